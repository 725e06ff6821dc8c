/* SPDX-License-Identifier: GPL-2.0 */
/* Memory-access sampler, decode mode: one event per user-mode timer sample of a
 * target thread. User space decodes the instruction before regs[16] (the IP) to
 * find the data address (profiler/decode_access.h). Fixed-width fields only. */
#pragma once
#include "common.h"

#define SAMPLE_NUM_REGS 17

struct sample_event {
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	__u32 pad;
	__u64 time_ns;                  /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 regs[SAMPLE_NUM_REGS];    /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */
	__u64 fsbase;                   /* for fs-relative (TLS) operands */
};

/* Every sample the program saw, and what became of it (shown as losses). */
struct sample_counters {
	__u64 samples;        /* program runs (all tasks on the sampled CPUs) */
	__u64 target;         /* samples of a target thread */
	__u64 kernel_mode;    /* target samples that interrupted the kernel: no user access to decode */
	__u64 ringbuf_drops;  /* target samples lost: ring buffer full */
};
