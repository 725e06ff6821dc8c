/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by every ccprof BPF program. */
#pragma once
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

/* A BTF-defined map (libbpf's syntax) in one line: name, BPF_MAP_TYPE_*, size, key and
 * value types. Ring buffers have no key or value: their size is in bytes. */
#define CCPROF_MAP(name, map_type, entries, key_type, value_type) \
	struct {                                                   \
		__uint(type, map_type);                            \
		__uint(max_entries, entries);                      \
		__type(key, key_type);                             \
		__type(value, value_type);                         \
	} name SEC(".maps")
#define CCPROF_RINGBUF(name, bytes)                   \
	struct {                                      \
		__uint(type, BPF_MAP_TYPE_RINGBUF);   \
		__uint(max_entries, bytes);           \
	} name SEC(".maps")

/* A collector's counters (a struct of __u64 fields), one copy per CPU: a locked add on
 * one line that every CPU writes, at every wait or sample, cost more than the rest of
 * some programs on a 2-CPU VM, and bounced the read-mostly globals beside it in .bss.
 * The agent sums the CPUs (agent/bpf_map.h, sum_percpu). */
#define CCPROF_PERCPU_COUNTERS(name, type) CCPROF_MAP(name, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, type)
/* This CPU's copy (never NULL for a one-element array, but the verifier asks). */
#define CCPROF_HERE(name, type) ({ __u32 z_ = 0; (type *)bpf_map_lookup_elem(&name, &z_); })
/* A plain add: a program does not migrate while it runs; an NMI-context program
 * interrupting another on the same CPU may lose one count. */
#define CCPROF_COUNT(name, type, field)              \
	do {                                         \
		type *c_ = CCPROF_HERE(name, type);  \
		if (c_)                              \
			c_->field++;                 \
	} while (0)

/* The set of target tgids. One map shared by every skeleton: the agent creates it
 * once and every object reuses its fd (bpf_map__reuse_fd) before load, so following
 * a child process updates the filter of every collector at once. */
CCPROF_MAP(ccprof_tgids, BPF_MAP_TYPE_HASH, CCPROF_MAX_TGIDS, __u32, __u8);

/* What each target thread is doing now, kept by the sched collector (syscall it is
 * in and since when); read by the futex collector to say what a lock's owner was
 * doing when a waiter started to wait. In the thread's own task storage: found from
 * the task at every syscall entry and exit and at every switch without a hash lookup;
 * freed with the thread. The futex
 * collector creates it (task storage needs the object's BTF) and the others reuse it. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ccprof_thread_state);
} ccprof_thread_states SEC(".maps");

/* Adds one timed event of `d` ns to a count, a total and a maximum shared by all CPUs.
 * The maximum is racy: off by one concurrent event at worst. */
static __always_inline void ccprof_add_duration(__u64 *count, __u64 *total, __u64 *max, __u64 d)
{
	__sync_fetch_and_add(count, 1);
	__sync_fetch_and_add(total, d);
	if (d > *max)
		*max = d;
}

/* The target's tgid while it is the only one; 0 once a child process is followed (the
 * futex collector's fork handler clears it before it adds the child). Shared like
 * ccprof_tgids. The common case is then an array load and a compare instead of a hash
 * lookup, at every syscall and switch of every process on the machine (~4 ns against
 * ~25 ns on the 2-vCPU VM, bench/bpf-ops). */
CCPROF_MAP(ccprof_sole_tgid, BPF_MAP_TYPE_ARRAY, 1, __u32, __u32);

static __always_inline int ccprof_is_target_tgid(__u32 tgid)
{
	__u32 zero = 0;
	__u32 *sole = bpf_map_lookup_elem(&ccprof_sole_tgid, &zero);
	if (sole && *sole)
		return tgid == *sole;
	return bpf_map_lookup_elem(&ccprof_tgids, &tgid) != NULL;
}

static __always_inline int ccprof_is_target(__u64 pid_tgid)
{
	return ccprof_is_target_tgid(pid_tgid >> 32);
}
