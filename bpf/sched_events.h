/* SPDX-License-Identifier: GPL-2.0 */
/* sched collector (named sched_events.h, not sched.h: bpf/ is on the include path
 * and would shadow the system <sched.h>): per-thread scheduler and syscall aggregates, long blocking
 * syscalls with a rate-limited user stack copy, shared with user space. */
#pragma once
#include "common.h"

#define SCHED_MAX_SYSCALL 512      /* syscall numbers >= this are classed "other" */

/* Syscall classes (profiler::SyscallClass has the same values). */
#define SCHED_SC_OTHER 0
#define SCHED_SC_IO 1       /* read, write, pread, recv*, send*, fsync, connect, ... */
#define SCHED_SC_SLEEP 2    /* nanosleep, clock_nanosleep */
#define SCHED_SC_POLL 3     /* poll, select, epoll_wait, ... */
#define SCHED_SC_FUTEX 4    /* futex, futex_waitv, futex_wait */
#define SCHED_SC_SPAWN 5    /* clone, clone3, fork, vfork: stack-sampled (where threads are made) */
#define SCHED_SC_THREAD 6   /* exit, set_robust_list, rseq, ...: the rest of a thread's life cycle */
#define SCHED_SC_MEMORY 7   /* munmap, mprotect, madvise */
#define SCHED_SC_MEMGROW 8  /* mmap, brk, mremap: stack-sampled (where memory grows) */
#define SCHED_SC_CLASSES 9

enum sched_event_type { SCHED_EV_THREAD = 1, SCHED_EV_SYSCALL = 2, SCHED_EV_STACK = 3 };

/* Everything counted about one target thread; the map value and, at thread exit,
 * the event that carries the final numbers to user space. */
struct sched_thread_stat {
	__u32 tid;
	__u32 tgid;
	__u64 created_ns;       /* sched_process_fork, 0 = existed before the profile */
	__u64 exited_ns;        /* sched_process_exit, 0 = alive */
	__u64 first_seen_ns;
	__u64 on_cpu_ns;
	__u64 off_cpu_ns;       /* switched out to switched in */
	__u64 runq_ns;          /* runnable but not running: wakeup/preemption to switch in */
	__u64 max_runq_ns;
	__u64 runq_count;
	__u64 vol_switches;     /* blocked */
	__u64 invol_switches;   /* preempted */
	__u64 wakeups;
	__u64 sc_ns[SCHED_SC_CLASSES];     /* wall time in syscalls of each class */
	__u64 sc_count[SCHED_SC_CLASSES];
	/* transient state of the accounting */
	__u64 last_in_ns;       /* switched in at, 0 = not on a CPU (or unknown) */
	__u64 last_out_ns;      /* switched out at, 0 = unknown */
	__u64 runnable_since_ns;/* 0 = not waiting for a CPU */
	char comm[16];
};

struct sched_thread_event {
	__u32 type;             /* SCHED_EV_THREAD: a thread exited with these totals */
	__u32 pad;
	struct sched_thread_stat stat;
};

/* A long blocking syscall (class IO, SLEEP or POLL lasting >= long_syscall_ns), or a
 * stack-sampled SPAWN / MEMGROW syscall (sent only with its stack copy). */
struct sched_syscall_event {
	__u32 type;             /* SCHED_EV_SYSCALL */
	__u32 tid;
	__u32 tgid;
	__s32 nr;
	__u64 enter_ns;
	__u64 duration_ns;
	__u64 ip;               /* user IP at entry (inside the libc wrapper) */
	__u64 stack_seq;        /* 0 = no stack copy, else the seq of a ccprof_stack_event */
};

/* The thread's user stack and registers, taken at the syscall's exit (the user stack
 * is what it was at entry: the thread was in the kernel all along): a
 * ccprof_stack_event of type SCHED_EV_STACK. */

/* Per (process, syscall, user IP) totals of non-futex syscalls. */
struct sched_site_key {
	__u32 tgid;
	__s32 nr;
	__u64 ip;
};

struct sched_site_stat {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
};

/* Loss counters in .bss, read by user space at the end; the agent reports each
 * as "sched.<name>" (one list: the struct and the agent expand it). */
#define SCHED_COUNTERS(X) \
	X(thread_events_dropped)     /* ring buffer full: an exited thread's totals lost */ \
	X(syscall_events_dropped)    /* ring buffer full: a long syscall not recorded */ \
	X(stack_events_dropped)      /* ring buffer full */ \
	X(stacks_rate_limited)       /* long syscalls not stack-sampled (rate limit) */ \
	X(stack_copy_failed)         /* first chunk of the stack copy faulted */ \
	X(thread_map_full)           /* a thread could not be tracked */ \
	X(state_map_full)            /* ccprof_thread_states had no room */ \
	X(site_map_full)             /* a syscall site's totals were lost */ \
	X(futex_tail_call_failed)    /* a futex syscall the futex programs did not see */
/* The futex collector's own losses where the sched programs do its work (a wake, the end
 * of a wait whose event is not sent): fields futex_<name>, which the agent adds to the
 * futex collector's "futex.<name>", so that one loss has one name whichever program
 * counted it. */
#define SCHED_FUTEX_COUNTERS(X) \
	X(wake_map_full)             /* wakes of futex words beyond last_wakes' capacity */ \
	X(addr_map_full)             /* waits the per-address totals had no room for */
#define SCHED_FUTEX_COUNTER_FIELD(name) __u64 futex_##name;
struct sched_counters {
	SCHED_COUNTERS(CCPROF_COUNTER_FIELD)
	SCHED_FUTEX_COUNTERS(SCHED_FUTEX_COUNTER_FIELD)
};

/* ---- per-thread CPU timeline (the chrome-trace export's running/runnable intervals) ---- */

/* One run of a thread on a CPU: runnable from ready_ns (woken or preempted; = on_ns when
 * not known) to on_ns, on the CPU from on_ns to off_ns. Runs the thread started again on
 * the same CPU within run_coalesce_ns of the switch-out are folded into one, the gaps
 * summed in coalesced_ns. `seq` counts the thread's runs: a gap in it is a run that was
 * not recorded, so the time between two records is known to be blocked only when their
 * seqs are consecutive. */
#define SCHED_RUN_PREEMPTED 1   /* still runnable when switched out (preempted or yielded) */
#define SCHED_RUN_EXITING 2     /* the thread was exiting */
struct sched_run_event {
	__u32 tid;
	__u32 tgid;
	__u64 ready_ns;
	__u64 on_ns;
	__u64 off_ns;
	__u32 seq;
	__u32 coalesced_ns;     /* saturates at 2^32-1 */
	__u16 cpu;
	__u16 flags;            /* SCHED_RUN_* */
	__u32 coalesced;        /* switch-outs folded into this run */
};

/* The timeline's loss counters in .bss ("sched.<name>"). */
#define SCHED_RUN_COUNTERS(X) \
	X(runs_over_budget)      /* runs not recorded: the CPU's budget for the window was spent */ \
	X(runs_dropped)          /* ring buffer full: a run not recorded */ \
	X(run_state_map_full)    /* a thread's runs could not be followed */
struct sched_run_counters {
	SCHED_RUN_COUNTERS(CCPROF_COUNTER_FIELD)
};
