/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared between every BPF program and user space: fixed-width fields only. */
#pragma once
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CCPROF_MAX_TGIDS 1024
#define CCPROF_MAX_THREADS 32768

/* ccprof_thread_state.state */
#define CCPROF_TS_RUNNING 0
#define CCPROF_TS_IN_SYSCALL 1

struct ccprof_thread_state {
	__u32 state;        /* CCPROF_TS_* */
	__s32 syscall_nr;   /* syscall the thread is in, -1 when none */
	__u64 since_ns;     /* bpf_ktime_get_ns() when it entered it */
	__u64 user_ip;      /* user IP at syscall entry (the call site of the syscall) */
};
