// SPDX-License-Identifier: GPL-2.0
/* Every futex wait's per-address totals (count, time, longest, log2 histogram), kept in
 * the kernel whether or not the wait's event is sent. Shared like futex_wake.bpf.h: the
 * futex collector's programs count the waits they end, and the sched collector's
 * sys_exit counts the ones whose event is not sent itself (most of a busy lock's), with
 * no tail call and no second lookup of the thread's state. Both objects declare the
 * maps; the sched object's copies are the futex object's (SharedMaps::addr_stats_fd,
 * addr_overflow_fd). */
#ifndef CCPROF_FUTEX_TOTALS_BPF_H
#define CCPROF_FUTEX_TOTALS_BPF_H

#include "common.bpf.h"
#include "futex.h"

/* Per CPU: two CPUs handing a lock over no longer bounce one cache line of totals with
 * locked adds on every wait and wake (the agent sums the CPUs). Allocated as used, not
 * for every CPU up front (16384 x 288 bytes per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct futex_addr_key);
	__type(value, struct futex_addr_stat);
} addr_stats SEC(".maps");

/* An address's totals when addr_stats cannot allocate its entry at that moment: the
 * kernel allocates per-CPU memory without sleeping, and new addresses coming quickly can
 * find its cache empty (-ENOMEM, seen at 1,000 new futex words a second on the 2-vCPU
 * VM). Preallocated, one copy for all CPUs (locked adds); the agent adds it to
 * addr_stats. An address may have totals in both. */
CCPROF_MAP(addr_overflow, BPF_MAP_TYPE_HASH, 4096, struct futex_addr_key, struct futex_addr_stat);

/* One wait of `d` ns on (tgid, uaddr) into its totals: this CPU's copy in addr_stats, or
 * the entry in addr_overflow, which takes locked adds. Returns -1 when neither has room
 * (the caller counts it). */
static __always_inline int ccprof_count_wait(__u32 tgid, __u64 uaddr, __u64 d)
{
	int shared = 0;
	struct futex_addr_key k = { .tgid = tgid, .uaddr = uaddr };
	struct futex_addr_stat *s = bpf_map_lookup_elem(&addr_stats, &k);
	if (!s) {
		struct futex_addr_stat zero = {};
		bpf_map_update_elem(&addr_stats, &k, &zero, BPF_NOEXIST); /* or another CPU made it */
		s = bpf_map_lookup_elem(&addr_stats, &k);
		if (!s) {
			s = bpf_map_lookup_elem(&addr_overflow, &k);
			if (!s) {
				bpf_map_update_elem(&addr_overflow, &k, &zero, BPF_NOEXIST);
				s = bpf_map_lookup_elem(&addr_overflow, &k);
			}
			if (!s)
				return -1;
			shared = 1;
		}
	}
	__u32 b = 0;
	__u64 v = d;
#pragma unroll
	for (int i = 0; i < 6; i++) {
		__u32 sh = 32 >> i;
		if (v >> sh) { v >>= sh; b += sh; }
	}
	if (b >= FUTEX_HIST_BUCKETS)
		b = FUTEX_HIST_BUCKETS - 1;
	if (shared) {
		__sync_fetch_and_add(&s->waits, 1);
		__sync_fetch_and_add(&s->wait_ns, d);
		__sync_fetch_and_add(&s->hist[b], 1);
	} else {
		/* this CPU's copy: plain adds (a BPF program does not migrate while it runs) */
		s->waits++;
		s->wait_ns += d;
		s->hist[b]++;
	}
	if (d > s->max_wait_ns)
		s->max_wait_ns = d; /* racy in the shared copy: off by one concurrent wait at worst */
	return 0;
}

#endif
