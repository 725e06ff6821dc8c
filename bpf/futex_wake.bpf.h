// SPDX-License-Identifier: GPL-2.0
/* A futex wake's record, shared by the futex collector's programs (bpf/futex.bpf.c) and
 * the sched collector's sys_enter (bpf/sched.bpf.c), which records the wakes itself when
 * it hands the futex syscalls over: a wake then needs no tail call and no second lookup
 * of the thread's state. Both objects declare last_wakes; the sched object's copy is the
 * futex object's map (SharedMaps::last_wakes_fd), so there is one record per word. */
#ifndef CCPROF_FUTEX_WAKE_BPF_H
#define CCPROF_FUTEX_WAKE_BPF_H

#include "common.bpf.h"
#include "futex.h"

/* Per futex word: the last FUTEX_WAKE (the waker of a wait is the thread that released
 * the lock, for every futex-based lock: most have no owner field to read), and the
 * word's wakes (the agent adds them to its totals). One lookup per wake: the count was in
 * addr_stats, a second hash lookup at every wake (~25 ns, bench/bpf-ops) for a line
 * the wake writes anyway. Preallocated, not LRU: an evicted entry would take its count
 * with it. */
CCPROF_MAP(last_wakes, BPF_MAP_TYPE_HASH, 16384, struct futex_addr_key, struct futex_wake_record);

/* The futex syscall `nr` with user registers `regs` wakes waiters: the word it wakes
 * (futex(2)'s WAKE, WAKE_BITSET, WAKE_OP, UNLOCK_PI; futex_wake(2)), else 0. */
static __always_inline __u64 ccprof_futex_woken_word(struct pt_regs *regs, long nr)
{
	if (nr == FUTEX_NR_FUTEX) {
		__u32 cmd = (__u32)regs->si & 127; /* strip FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */
		if (cmd == 1 /* WAKE */ || cmd == 10 /* WAKE_BITSET */ || cmd == 5 /* WAKE_OP */ ||
		    cmd == 7 /* UNLOCK_PI */)
			return regs->di;
		return 0;
	}
	return nr == FUTEX_NR_FUTEX_WAKE ? regs->di : 0;
}

/* Records a wake of `uaddr` by thread `tid` of `tgid` at `now`. In place when the word
 * has a record (an update per wake cost more than the rest of the wake). Two wakes of one
 * word racing on two CPUs may leave one's time with the other's tid: either released the
 * lock a moment ago. The count takes a locked add: both CPUs' wakes of a word write this
 * line anyway. Returns 0, or -1 when the map had no room for the word (the caller counts
 * it). */
static __always_inline int ccprof_record_wake(__u32 tgid, __u32 tid, __u64 uaddr, __u64 now)
{
	struct futex_addr_key k = { .tgid = tgid, .uaddr = uaddr };
	struct futex_wake_record *w = bpf_map_lookup_elem(&last_wakes, &k);
	if (w) {
		w->ts = now;
		w->tid = tid;
		__sync_fetch_and_add(&w->wakes, 1);
		return 0;
	}
	struct futex_wake_record fresh = { .ts = now, .tid = tid, .wakes = 1 };
	if (!bpf_map_update_elem(&last_wakes, &k, &fresh, BPF_NOEXIST))
		return 0;
	w = bpf_map_lookup_elem(&last_wakes, &k); /* another CPU made it a moment ago */
	if (!w)
		return -1;
	__sync_fetch_and_add(&w->wakes, 1);
	return 0;
}

#endif
