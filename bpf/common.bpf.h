/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by every ccprof BPF program. */
#pragma once
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

/* The set of target tgids. One map shared by every skeleton: the agent creates it
 * once and every object reuses its fd (bpf_map__reuse_fd) before load, so following
 * a child process updates the filter of every collector at once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CCPROF_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} ccprof_tgids SEC(".maps");

/* What each target thread is doing now, kept by the sched collector (syscall it is
 * in and since when); read by the futex collector to say what a lock's owner was
 * doing when a waiter started to wait. Shared like ccprof_tgids. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CCPROF_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct ccprof_thread_state);
} ccprof_thread_states SEC(".maps");

static __always_inline int ccprof_is_target(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	return bpf_map_lookup_elem(&ccprof_tgids, &tgid) != NULL;
}
