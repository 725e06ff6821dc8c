// SPDX-License-Identifier: GPL-2.0
/* lockrate collector: uprobes on libc's pthread_mutex_lock counting calls per
 * (thread, mutex, caller). Futex waits show only contended acquisitions; this shows how
 * often a lock is taken at all. In the same windows it measures the critical sections:
 * the return of pthread_mutex_lock/trylock (acquired) to the entry of
 * pthread_mutex_unlock, per (mutex, acquiring call site), and the order in which one
 * thread takes nested mutexes. A uprobe traps on every call, so the agent attaches them
 * only for short windows and divides by their length. */
#include "common.bpf.h"
#include "lockrate.h"
#include "stack_copy.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Bumped by user space before each window opens: per-thread state left by the last
 * window (a lock taken before it closed) is stale in the next one. */
__u64 generation = 0;
/* bpf_ktime_get_ns() when the current window opened (CLOCK_MONOTONIC); 0 = closed.
 * Attaching and detaching eight uprobes takes the kernel tens of ms (each waits for an
 * RCU grace period), so the programs count nothing until all are live and stop counting
 * before the first is detached: every window sees all of its probes or none. */
__u64 window_start_ns = 0;
/* 1 while the critical-section probes are attached (user space sets it with
 * window_start_ns): only then does a sampled acquisition's stack copy get its hold time. */
__u32 timing_holds = 0;
__u64 holder_stack_seq_next = 0;

CCPROF_MAP(lock_calls, BPF_MAP_TYPE_HASH, 16384, struct lockrate_key, __u64);

CCPROF_MAP(lock_holds, BPF_MAP_TYPE_HASH, 4096, struct lockhold_key, struct lockhold_stat);

CCPROF_MAP(lock_order, BPF_MAP_TYPE_HASH, 4096, struct lockorder_key, __u64);

/* The call in flight: pthread_mutex_lock/trylock entered, not returned yet. */
struct pending_lock {
	__u64 lock, caller, generation, stack_seq;
};

CCPROF_MAP(pending, BPF_MAP_TYPE_HASH, CCPROF_MAX_THREADS, __u32, struct pending_lock);

CCPROF_MAP(held, BPF_MAP_TYPE_HASH, CCPROF_MAX_THREADS, __u32, struct held_set);

/* The holders' stacks (lockrate.h): copies on one ring buffer, the holds that name them
 * on another. 4 MiB hold ~480 copies; the agent drains every ~20 ms and a mutex gets at
 * most LOCKHOLD_STACKS_PER_LOCK copies a second. */
CCPROF_MAP(holder_stack_rate, BPF_MAP_TYPE_LRU_HASH, 4096, struct lockhold_lock_key, struct ccprof_rate_state);
CCPROF_RINGBUF(holder_stacks, 4 << 20);
CCPROF_RINGBUF(holder_samples, 256 << 10);

/* Per-CPU scratch: struct lockhold_stat is too large for the BPF stack. */
CCPROF_MAP(zero_stat, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct lockhold_stat);

CCPROF_PERCPU_COUNTERS(counters, struct lockrate_counters);
#define COUNT(field) CCPROF_COUNT(counters, struct lockrate_counters, field)

static __always_inline __u64 caller_of(struct pt_regs *ctx)
{
	__u64 caller = 0;
	/* at function entry the return address is at the top of the stack */
	bpf_probe_read_user(&caller, sizeof(caller), (void *)PT_REGS_SP(ctx));
	return caller;
}

static __always_inline void count_call(__u64 id, __u64 mutex, __u64 caller)
{
	struct lockrate_key k = { .tgid = id >> 32, .tid = (__u32)id, .lock = mutex, .caller = caller };
	__u64 *n = bpf_map_lookup_elem(&lock_calls, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	__u64 one = 1;
	if (!bpf_map_update_elem(&lock_calls, &k, &one, BPF_NOEXIST))
		return;
	n = bpf_map_lookup_elem(&lock_calls, &k); /* another CPU inserted it first */
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		COUNT(map_full);
}

/* A copy of the acquiring thread's stack for a bounded sample of acquisitions per mutex
 * (the first LOCKHOLD_STACKS_PER_LOCK of each rate window); its seq, or 0. */
static __always_inline __u64 sample_holder_stack(struct pt_regs *ctx, __u64 id, __u64 mutex)
{
	if (!timing_holds)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct lockhold_lock_key k = { .tgid = id >> 32, .lock = mutex };
	struct ccprof_rate_state *r = bpf_map_lookup_elem(&holder_stack_rate, &k);
	if (!r) {
		struct ccprof_rate_state fresh = { .window_start = now, .count = 1 };
		bpf_map_update_elem(&holder_stack_rate, &k, &fresh, BPF_ANY);
	} else if (!ccprof_rate_take(r, now, LOCKHOLD_STACK_RATE_WINDOW_NS, LOCKHOLD_STACKS_PER_LOCK)) {
		COUNT(holder_stacks_not_sampled);
		return 0;
	}
	struct lockrate_counters *c = CCPROF_HERE(counters, struct lockrate_counters);
	if (!c)
		return 0;
	return ccprof_send_stack(&holder_stacks, LOCKHOLD_EV_STACK, ctx, (__u32)id, id >> 32, now,
				 &holder_stack_seq_next, &c->holder_stack_events_dropped, &c->holder_stack_copy_failed);
}

static __always_inline void stash(struct pt_regs *ctx, __u64 id, __u64 mutex, __u64 caller)
{
	__u32 tid = (__u32)id;
	struct pending_lock p = { .lock = mutex, .caller = caller, .generation = generation,
				  .stack_seq = sample_holder_stack(ctx, id, mutex) };
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
}

SEC("uprobe")
int BPF_KPROBE(lockrate_mutex_lock, void *mutex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!window_start_ns || !ccprof_is_target(id))
		return 0;
	__u64 caller = caller_of(ctx);
	count_call(id, (__u64)mutex, caller);
	stash(ctx, id, (__u64)mutex, caller);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(lockrate_mutex_trylock, void *mutex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!window_start_ns || !ccprof_is_target(id))
		return 0;
	stash(ctx, id, (__u64)mutex, caller_of(ctx));
	return 0;
}

static __always_inline struct lockhold_stat *hold_stat(__u32 tgid, __u64 lock, __u64 caller)
{
	struct lockhold_key k = { .tgid = tgid, .lock = lock, .caller = caller };
	struct lockhold_stat *s = bpf_map_lookup_elem(&lock_holds, &k);
	if (s)
		return s;
	__u32 zero = 0;
	struct lockhold_stat *z = bpf_map_lookup_elem(&zero_stat, &zero);
	if (!z)
		return NULL;
	if (bpf_map_update_elem(&lock_holds, &k, z, BPF_NOEXIST) && !bpf_map_lookup_elem(&lock_holds, &k)) {
		COUNT(hold_map_full);
		return NULL;
	}
	return bpf_map_lookup_elem(&lock_holds, &k);
}

static __always_inline void record_order(__u64 id, struct held_set *h, __u64 lock, __u64 caller, __u32 trylock)
{
	/* every mutex already held was taken before this one */
#pragma unroll
	for (int i = 0; i < LOCKHOLD_MAX_HELD; i++) {
		if (i >= h->n)
			break;
		if (h->lock[i] == lock)
			continue; /* a recursive mutex taken again */
		struct lockorder_key k = { .tgid = id >> 32, .tid = (__u32)id, .first = h->lock[i],
					   .first_caller = h->caller[i], .second = lock,
					   .second_caller = caller, .trylock = trylock };
		__u64 *n = bpf_map_lookup_elem(&lock_order, &k);
		if (n) {
			__sync_fetch_and_add(n, 1);
			continue;
		}
		__u64 one = 1;
		if (bpf_map_update_elem(&lock_order, &k, &one, BPF_NOEXIST) && !bpf_map_lookup_elem(&lock_order, &k))
			COUNT(order_map_full);
	}
}

/* The calling thread's set of held mutexes, created on first use and emptied when it
 * was left by an earlier window (another generation); NULL when the map is full. */
static __always_inline struct held_set *current_held(__u64 id)
{
	__u32 tid = (__u32)id;
	struct held_set *h = bpf_map_lookup_elem(&held, &tid);
	if (!h) {
		struct held_set fresh = { .generation = generation, .tgid = id >> 32 };
		bpf_map_update_elem(&held, &tid, &fresh, BPF_ANY);
		h = bpf_map_lookup_elem(&held, &tid);
		if (!h)
			return NULL;
	}
	if (h->generation != generation) {
		h->n = 0;
		h->generation = generation;
	}
	return h;
}

static __always_inline int on_acquire_return(int ret, __u32 trylock)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct pending_lock *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	__u64 lock = p->lock, caller = p->caller, gen = p->generation, stack_seq = p->stack_seq;
	bpf_map_delete_elem(&pending, &tid);
	if (ret != 0 || gen != generation || !window_start_ns)
		return 0; /* not acquired (trylock busy, error), or entered before this window */
	struct held_set *h = current_held(id);
	if (!h)
		return 0;
	record_order(id, h, lock, caller, trylock);
	__u32 n = h->n;
	if (n >= LOCKHOLD_MAX_HELD) {
		COUNT(nested_too_deep);
		return 0;
	}
	barrier_var(n); /* the compiler would drop the mask: it knows n < 4; the verifier does not */
	n &= LOCKHOLD_MAX_HELD - 1;
	h->lock[n] = lock;
	h->caller[n] = caller;
	h->since[n] = bpf_ktime_get_ns();
	h->stack_seq[n] = stack_seq;
	h->n = n + 1;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(lockrate_mutex_lock_ret, int ret)
{
	return on_acquire_return(ret, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(lockrate_mutex_trylock_ret, int ret)
{
	return on_acquire_return(ret, 1);
}

/* Removes `lock` (the innermost record of it) from the held set; its index or -1. */
static __always_inline int find_held(struct held_set *h, __u64 lock)
{
	int found = -1;
#pragma unroll
	for (int i = 0; i < LOCKHOLD_MAX_HELD; i++)
		if (i < h->n && h->lock[i] == lock)
			found = i;
	return found;
}

SEC("uprobe")
int BPF_KPROBE(lockrate_mutex_unlock, void *mutex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!window_start_ns || !ccprof_is_target(id))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = (__u32)id, tgid = id >> 32;
	__u64 lock = (__u64)mutex;
	struct held_set *h = bpf_map_lookup_elem(&held, &tid);
	int i = -1;
	if (h && h->generation == generation)
		i = find_held(h, lock);
	if (i < 0 || i >= LOCKHOLD_MAX_HELD || !h) {
		/* acquired before this window opened (or by a call not probed): the window saw
		 * the part of the hold since it opened; the caller is unknown (0) */
		COUNT(unlock_unmatched);
		struct lockhold_stat *c = hold_stat(tgid, lock, 0);
		if (c && now > window_start_ns) {
			__sync_fetch_and_add(&c->clipped, 1);
			__sync_fetch_and_add(&c->clipped_ns, now - window_start_ns);
		}
		return 0;
	}
	barrier_var(i); /* bounded above; said again for the verifier */
	i &= LOCKHOLD_MAX_HELD - 1;
	__u64 since = h->since[i], caller = h->caller[i], stack_seq = h->stack_seq[i];
	/* close the gap: the set stays ordered by acquisition */
#pragma unroll
	for (int j = 0; j < LOCKHOLD_MAX_HELD - 1; j++)
		if (j >= i && j + 1 < h->n) {
			h->lock[j] = h->lock[j + 1];
			h->caller[j] = h->caller[j + 1];
			h->since[j] = h->since[j + 1];
			h->stack_seq[j] = h->stack_seq[j + 1];
		}
	h->n = h->n - 1;
	if (!since)
		return 0; /* a condvar wait released it in between: counted there */
	struct lockhold_stat *s = hold_stat(tgid, lock, caller);
	if (!s)
		return 0;
	__u64 d = now - since;
	__sync_fetch_and_add(&s->holds, 1);
	__sync_fetch_and_add(&s->hold_ns, d);
	if (d > s->max_ns)
		s->max_ns = d; /* racy max: off by one concurrent hold at worst */
	__sync_fetch_and_add(&s->hist[lockhold_bucket(d) & (LOCKHOLD_BUCKETS - 1)], 1);
	if (stack_seq) {
		struct lockhold_sample *e = bpf_ringbuf_reserve(&holder_samples, sizeof(*e), 0);
		if (!e) {
			COUNT(holder_samples_dropped);
			return 0;
		}
		e->tgid = tgid;
		e->tid = tid;
		e->lock = lock;
		e->caller = caller;
		e->stack_seq = stack_seq;
		e->hold_ns = d;
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	}
	return 0;
}

/* pthread_cond_wait/timedwait/clockwait(cond, mutex, ...) release the mutex inside libc
 * (not through pthread_mutex_unlock) and take it again before returning: the hold that
 * spans the wait is not one critical section, so it is dropped, and counted. */
SEC("uprobe")
int BPF_KPROBE(lockrate_cond_wait, void *cond, void *mutex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!window_start_ns || !ccprof_is_target(id))
		return 0;
	struct held_set *h = current_held(id);
	if (!h)
		return 0;
	int i = find_held(h, (__u64)mutex);
	if (i < 0 || i >= LOCKHOLD_MAX_HELD) {
		/* taken before the window: remember it as not measurable, so its unlock is
		 * not read as a hold since the window opened */
		__u32 n = h->n;
		if (n < LOCKHOLD_MAX_HELD) {
			barrier_var(n);
			n &= LOCKHOLD_MAX_HELD - 1;
			h->lock[n] = (__u64)mutex;
			h->caller[n] = 0;
			h->since[n] = 0;
			h->stack_seq[n] = 0;
			h->n = n + 1;
		}
		return 0;
	}
	barrier_var(i);
	i &= LOCKHOLD_MAX_HELD - 1;
	if (h->since[i])
		COUNT(holds_through_condvar);
	h->since[i] = 0;
	return 0;
}
