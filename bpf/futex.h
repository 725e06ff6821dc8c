/* SPDX-License-Identifier: GPL-2.0 */
/* futex collector: events and in-kernel aggregates shared with user space. */
#pragma once
#include "common.h"

#define FUTEX_HIST_BUCKETS 32
#define FUTEX_OP_WAITV 100         /* futex_waitv(2), not an op of futex(2) */
#define FUTEX_OP_WAIT2 101         /* futex_wait(2) (futex2) */
#define FUTEX_OP_WAKE2 102         /* futex_wake(2) (futex2) */

/* x86-64 syscall numbers of the futex family (the agent checks them against
 * <sys/syscall.h>). The futex programs are raw sys_enter/sys_exit programs dispatching
 * on these: the sched collector's syscall programs tail-call them, so each futex
 * syscall is traced once (one pair of programs owns the syscall path). */
#define FUTEX_NR_FUTEX 202
#define FUTEX_NR_FUTEX_WAITV 449
#define FUTEX_NR_FUTEX_WAKE 454
#define FUTEX_NR_FUTEX_WAIT 455
#define FUTEX_NR_SCHED_YIELD 24    /* lock libraries yield before they sleep (lock_yields) */

enum futex_event_type { FUTEX_EV_WAIT = 1, FUTEX_EV_STACK = 2, FUTEX_EV_THREAD = 3 };

struct futex_addr_key {
	__u32 tgid;
	__u32 pad;
	__u64 uaddr;
};

struct futex_addr_stat {
	__u64 waits, wait_ns, max_wait_ns, wakes;  /* wakes: from futex_wake_record (0 in the kernel's copies) */
	__u64 hist[FUTEX_HIST_BUCKETS];
};

/* A futex word's last wake and its wakes (bpf/futex.bpf.c, last_wakes). */
struct futex_wake_record {
	__u64 ts;
	__u32 tid;
	__u32 pad;
	__u64 wakes;
};

/* One completed wait. */
struct futex_wait_event {
	__u32 type;            /* FUTEX_EV_WAIT */
	__u32 tid;
	__u32 tgid;
	__u32 op;              /* cmd (low 7 bits) or FUTEX_OP_WAITV / FUTEX_OP_WAIT2 */
	__u64 uaddr;
	__u32 val;             /* expected value */
	__s32 owner;           /* glibc __owner (or the PI futex word's tid) at wait start */
	__u64 start_ns;
	__u64 duration_ns;
	__s64 ret;
	__u64 stack_seq;       /* 0 = no stack copy, else the seq of a ccprof_stack_event */
	__s32 owner_syscall;   /* -1 = owner not in a syscall / unknown */
	__u32 sent_every;      /* the stride this wait was sent under: 1 in sent_every of the
	                        * waits without a stack copy travel (futex_send_every) */
	__u64 owner_since_ns;
	__u64 owner_ip;
	__u64 word;            /* the futex word the kernel waited on when it is not the lock
	                        * (uaddr is then the lock object: absl::Mutex's waiters sleep
	                        * on a per-thread semaphore); 0 = uaddr itself */
	__u32 waker;           /* the thread whose FUTEX_WAKE on the word ended the wait (it
	                        * released the lock); 0 = unknown, timed out or interrupted */
	__u32 pad2;	__u64 woken_ns;        /* when that FUTEX_WAKE entered the kernel (0 with waker 0): the
	                        * handover from the release to this waiter's return is
	                        * start_ns + duration_ns - woken_ns */
};

/* sched_yield() time per (thread, lock, caller): lock libraries spin and yield before
 * they sleep (oneTBB's tbb::mutex 32 times, parking_lot 7), and on a busy or
 * oversubscribed machine most of their waiting is those yields, not the futex sleep.
 * `lock` is the lock of the slow path the thread is in (lock_objects), 0 outside one;
 * `caller` the return address into the code that called sched_yield(). */
struct lock_yield_key {
	__u32 tgid;
	__u32 tid;
	__u64 lock;
	__u64 caller;
};

struct lock_yield_stat {
	__u64 yields, yield_ns;
};

/* The waiter's user stack at wait start: a ccprof_stack_event of type FUTEX_EV_STACK. */

/* A thread of a target was created or exited. */
struct futex_thread_event {
	__u32 type;            /* FUTEX_EV_THREAD */
	__u32 tid;
	__u32 tgid;
	__u32 exited;          /* 0 = created, 1 = exited */
	__u64 time_ns;
	char comm[16];
};

/* Loss counters in .bss, read by user space at the end; the agent reports each
 * as "futex.<name>" (one list: the struct and the agent expand it). */
#define FUTEX_COUNTERS(X) \
	X(wait_events_dropped)      /* ring buffer full */ \
	X(stack_events_dropped)     /* ring buffer full */ \
	X(stacks_rate_limited)      /* waits not sampled because of the per-lock rate limit */ \
	X(stack_copy_failed)        /* first chunk of the stack copy faulted */ \
	X(addr_map_full)            /* futex_addr_stats had no room: totals incomplete */ \
	X(start_map_full)           /* wait start could not be recorded (task storage): wait lost */ \
	X(thread_events_dropped)    /* ring buffer full: a thread's creation or exit lost */ \
	X(lock_object_map_full)     /* slow-path entries not recorded: their waits stay on the futex word */ \
	X(yield_map_full)           /* sched_yield() totals (or its in-flight record) with no room: that time uncounted */ \
	X(wake_map_full)            /* futex words beyond last_wakes' capacity: their wakes uncounted, their waits without a waker */
struct futex_counters {
	FUTEX_COUNTERS(CCPROF_COUNTER_FIELD)
};

/* Per CPU: the stride's position, and the waits counted but not sent because of it
 * (sampling by design: the per-address totals stay exact), counted when they begin. */
struct futex_cpu_tick {
	__u64 tick;
	__u64 not_sent;
};
