/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared between every BPF program and user space: fixed-width fields only. */
#pragma once
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CCPROF_MAX_TGIDS 1024

/* A loss counter of a collector's X-macro counter list (bpf/futex.h, bpf/sched_events.h). */
#define CCPROF_COUNTER_FIELD(name) __u64 name;

/* user registers in DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */
#define CCPROF_NUM_REGS 17
#define CCPROF_STACK_CHUNK 1024
#define CCPROF_STACK_COPY 8192      /* bytes of user stack copied from sp */
#define CCPROF_MAX_URET 4           /* uretprobe-replaced return addresses repaired per copy */

/* A copy of a thread's user stack and registers (bpf/stack_copy.bpf.h writes it; the
 * futex and sched collectors each send them on their own ring buffer, and agent/
 * turns them into model::StackCopy). `type` is the collector's own event type. */
struct ccprof_stack_event {
	__u32 type;
	__u32 tid;
	__u32 tgid;
	__u32 stack_len;       /* bytes valid in stack[] */
	__u64 seq;             /* > 0; the waits and syscalls that took it name it */
	__u64 time_ns;
	__u64 regs[CCPROF_NUM_REGS];
	/* Return addresses a uretprobe replaced with its trampoline (ccprof's own lock-hold
	 * probes, or another tool's): the stack slot and the original value, from the
	 * kernel's list for the thread, so the copy unwinds past them. */
	__u32 n_uret;
	__u32 uret_pad;
	__u64 uret_slot[CCPROF_MAX_URET];
	__u64 uret_orig[CCPROF_MAX_URET];
	__u8 stack[CCPROF_STACK_COPY];
};
#define CCPROF_MAX_THREADS 32768

/* ccprof_thread_state.state */
#define CCPROF_TS_RUNNING 0
#define CCPROF_TS_IN_SYSCALL 1
#define CCPROF_TS_PREEMPTED 2  /* runnable in user mode but switched out (lock-holder preemption) */

/* futex_wait_event.owner_syscall when the lock's owner was preempted as the wait began
 * (no syscall: it was runnable, waiting for a CPU, while holding the lock). */
#define CCPROF_OWNER_PREEMPTED (-2)

/* A futex wait in flight (the futex collector's; in the thread's state below). */
struct ccprof_futex_wait {
	__u64 ts;
	__u64 uaddr;           /* the lock the wait is charged to */
	__u64 word;            /* the futex word the kernel waits on */
	__u64 stack_seq;
	__u64 owner_since_ns;
	__u64 owner_ip;
	__u32 op;
	__u32 val;
	__s32 owner;
	__s32 owner_syscall;
	__u32 active;          /* a wait began and has not ended */
	__u32 sent_every;      /* the stride it is sent under; 0: not sent (its end is only counted) */
};

struct ccprof_thread_state {
	__u32 state;        /* CCPROF_TS_* */
	__s32 syscall_nr;   /* syscall the thread is in, -1 when none */
	__u64 since_ns;     /* bpf_ktime_get_ns() when it entered it (or was preempted) */
	__u64 user_ip;      /* user IP at syscall entry (the call site of the syscall) */
	/* bpf_ktime_get_ns() when it left its last syscall: the sched collector's sys_exit
	 * reads the clock and the futex program it tail-calls reuses the value (a clock
	 * read is ~37 ns on the 2-vCPU VM, bench/bpf-ops), as the futex sys_enter reuses
	 * since_ns. */
	__u64 exit_ns;
	/* Syscall time of one class not yet in the thread's totals (the sched collector's
	 * per-thread hash entry): added there at the thread's next switch-out, at a syscall
	 * of another class, after CCPROF_SC_PENDING_MAX syscalls, at its exit, and by the
	 * agent for a thread alive at the end. Saves a hash lookup per syscall. */
	__u64 sc_pending_ns;
	__u32 sc_pending_count;
	__u32 sc_pending_class;
	struct ccprof_futex_wait wait;
	/* The lock whose stack-copy budget this thread last found spent, and the start of
	 * that budget's window: until the window ends its next waits on that lock skip the
	 * budget's lookup (a hash lookup per wait, ~25 ns, for a lock whose budget is spent
	 * for most of each window: bpf/futex.bpf.c lock_budget_left). */
	__u64 stack_spent_lock;
	__u64 stack_spent_window;
};
#define CCPROF_SC_PENDING_MAX 256
