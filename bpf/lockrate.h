/* SPDX-License-Identifier: GPL-2.0 */
/* lockrate collector: pthread_mutex_lock calls counted per (thread, mutex, caller)
 * during short uprobe windows, and in the same windows the critical sections: how long
 * each acquisition held the mutex (lock return -> unlock entry) per (mutex, caller), and
 * which mutexes a thread already held when it took another (the lock order). */
#pragma once
#include "common.h"

/* Hold-time histogram: 4 buckets per power of two of nanoseconds (quarter octaves,
 * so a percentile read back from it is within ~12% of the true value), up to 2^32 ns (4.3 s:
 * a complete hold lies inside one window, far shorter). */
#define LOCKHOLD_SUB_BITS 2
#define LOCKHOLD_MAX_LOG2 32
#define LOCKHOLD_BUCKETS (LOCKHOLD_MAX_LOG2 << LOCKHOLD_SUB_BITS)
/* Mutexes one thread can hold at once and still be tracked (deeper nesting is counted). */
#define LOCKHOLD_MAX_HELD 4

/* The histogram bucket of a hold of v ns: the position of its top bit and the next
 * LOCKHOLD_SUB_BITS bits. Shared with user space, which reads the buckets back
 * (profiler/lock_holds.cc) and tests this very function. */
static inline __u32 lockhold_bucket(__u64 v)
{
	if (!v)
		return 0;
	__u32 msb = 0;
	__u64 x = v;
#ifdef __bpf__
#pragma unroll
#endif
	for (int i = 0; i < 6; i++) {
		__u32 sh = 32 >> i;
		if (x >> sh) { x >>= sh; msb += sh; }
	}
	__u32 mask = (1u << LOCKHOLD_SUB_BITS) - 1;
	__u32 sub = msb >= LOCKHOLD_SUB_BITS ? (__u32)(v >> (msb - LOCKHOLD_SUB_BITS)) & mask
					     : (__u32)(v << (LOCKHOLD_SUB_BITS - msb)) & mask;
	__u32 b = (msb << LOCKHOLD_SUB_BITS) | sub;
	return b < LOCKHOLD_BUCKETS ? b : LOCKHOLD_BUCKETS - 1;
}

struct lockrate_key {
	__u32 tgid;
	__u32 tid;
	__u64 lock;    /* the pthread_mutex_t address (first argument) */
	__u64 caller;  /* return address: the instruction after the call in the caller */
};

/* Critical sections of one mutex acquired at one call site. */
struct lockhold_key {
	__u32 tgid;
	__u32 pad;
	__u64 lock;
	__u64 caller;  /* return address of the acquiring pthread_mutex_lock/trylock call */
};

struct lockhold_stat {
	__u64 holds;         /* complete holds (acquired and released inside a window) */
	__u64 hold_ns;       /* their total */
	__u64 max_ns;
	__u64 clipped_ns;    /* held at the window's edge: released in it but acquired before it
	                        (window start -> unlock), so the share held is not biased short */
	__u64 clipped;
	__u64 hist[LOCKHOLD_BUCKETS];
};

/* Thread `tid` acquired `second` (at second_caller) while holding `first` (acquired at
 * first_caller). trylock = the second acquisition was a pthread_mutex_trylock. */
struct lockorder_key {
	__u32 tgid;
	__u32 tid;
	__u64 first, first_caller;
	__u64 second, second_caller;
	__u32 trylock;
	__u32 pad;
};

/* The mutexes a thread holds now (acquired in this window), innermost last; user space
 * reads what is still held when a window closes. */
struct held_set {
	__u64 lock[LOCKHOLD_MAX_HELD];
	__u64 caller[LOCKHOLD_MAX_HELD];
	__u64 since[LOCKHOLD_MAX_HELD];   /* 0 = released by a condvar wait: not measured */
	__u64 stack_seq[LOCKHOLD_MAX_HELD]; /* 0 = no stack copy, else the holder's stack at the acquisition */
	__u64 generation;
	__u32 n;
	__u32 tgid;
};

/* The holders' stacks: for a bounded sample of acquisitions per mutex (in the windows that
 * time critical sections) the acquiring thread's user stack is copied at the entry of
 * pthread_mutex_lock/trylock (a ccprof_stack_event of type LOCKHOLD_EV_STACK); when that
 * hold ends at pthread_mutex_unlock, a lockhold_sample names the copy and says how long
 * the mutex was held, so user space charges the hold's time to the holder's stack. */
#define LOCKHOLD_EV_STACK 1
#define LOCKHOLD_STACKS_PER_LOCK 32            /* stack copies per mutex per rate window */
#define LOCKHOLD_STACK_RATE_WINDOW_NS 1000000000ull /* longer than a lockrate window (20 ms) */

struct lockhold_sample {
	__u32 tgid;
	__u32 tid;
	__u64 lock;
	__u64 caller;     /* return address of the acquiring call */
	__u64 stack_seq;  /* the ccprof_stack_event taken at the acquisition */
	__u64 hold_ns;
};

/* (process, mutex): the key of the per-mutex stack-copy rate limit */
struct lockhold_lock_key {
	__u32 tgid;
	__u32 pad;
	__u64 lock;
};

struct lockrate_counters {
	__u64 map_full;
	__u64 hold_map_full;         /* (mutex, caller) pairs beyond lock_holds' capacity */
	__u64 order_map_full;        /* lock-order pairs beyond lock_order's capacity */
	__u64 nested_too_deep;       /* acquisitions with LOCKHOLD_MAX_HELD mutexes already held */
	__u64 holds_through_condvar; /* holds that a pthread_cond_*wait released and re-took: not measured */
	__u64 unlock_unmatched;      /* unlocks of a mutex acquired before the window (clipped) */
	__u64 holder_stacks_not_sampled;   /* acquisitions over the per-mutex stack-copy limit */
	__u64 holder_stack_events_dropped; /* stack-copy ring buffer full */
	__u64 holder_stack_copy_failed;    /* first chunk of the stack copy faulted */
	__u64 holder_samples_dropped;      /* sample ring buffer full: the hold's stack is not charged */
};
