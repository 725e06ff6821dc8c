// SPDX-License-Identifier: GPL-2.0
/* The start of a futex wait that is neither sent nor stack-copied, shared like
 * futex_wake.bpf.h and futex_totals.bpf.h: most of a busy lock's waits are such waits (the
 * agent's stride sends 1 in send_every of them, and a lock's stack-copy budget is spent
 * for most of each 100 ms window), and the sched collector's sys_enter starts them itself,
 * with no tail call into the futex collector's program and no second lookup of the
 * thread's state (~30 ns per futex syscall on futex-storm, bench/bpf_ab.py). Every other
 * wait (a stack copy to take, a wait to send, a lock library's slow path to look up, a
 * futex_waitv to read) still goes to bpf/futex.bpf.c. Both objects declare the maps; the
 * sched object's copies are the futex object's (SharedMaps::futex_control_fd,
 * cpu_ticks_fd). */
#ifndef CCPROF_FUTEX_STRIDE_BPF_H
#define CCPROF_FUTEX_STRIDE_BPF_H

#include "common.bpf.h"
#include "futex.h"

/* Written by the agent (struct futex_control, bpf/futex.h). */
CCPROF_MAP(futex_control, BPF_MAP_TYPE_ARRAY, 1, __u32, struct futex_control);

/* Per CPU: the stride's position and the waits it did not send. */
CCPROF_MAP(cpu_ticks, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct futex_cpu_tick);

static __always_inline struct futex_control *ccprof_futex_control(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&futex_control, &zero);
}

/* futex(2)'s waiting commands: WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2. */
static __always_inline int ccprof_is_wait_cmd(__u32 cmd)
{
	return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
}

/* The stride a wait is sent under, 0 when it is not sent: every wait with a stack copy
 * is, and 1 in send_every of the others (counted per CPU, here at its start: its end
 * then needs no second lookup). */
static __always_inline __u32 ccprof_send_stride(int stack_copied)
{
	struct futex_control *c = ccprof_futex_control();
	__u64 stride = c ? c->send_every : 1;
	if (stack_copied || stride <= 1)
		return stride ? stride : 1;
	__u32 zero = 0;
	struct futex_cpu_tick *t = bpf_map_lookup_elem(&cpu_ticks, &zero);
	if (t && (t->tick++ & (stride - 1)) != 0) {
		t->not_sent++;
		return 0;
	}
	return stride;
}

/* Starts the wait of thread state `me` on the word `uaddr` at `now` when it is the common
 * kind: outside any lock library's slow path (none is probed), on a lock whose stack-copy
 * budget this thread found spent in the current window (bpf/futex.bpf.c,
 * lock_budget_left), and one the stride does not send. Returns 1 when it did (the caller
 * counts the stack the budget did not allow), 0 with nothing changed otherwise: the
 * futex collector's program then decides it, and the stride's position is where this
 * check found it, so that program reaches the same answer. */
static __always_inline int ccprof_start_unsent_wait(struct ccprof_thread_state *me, __u64 uaddr, __u32 op, __u32 val,
						    __u64 now)
{
	if (me->stack_spent_lock != uaddr || now > me->stack_spent_until)
		return 0; /* the thread's own line first: most waits that go on fail here */
	struct futex_control *c = ccprof_futex_control();
	if (!c || c->slow_paths_probed)
		return 0;
	__u64 stride = c->send_every;
	if (stride <= 1)
		return 0;
	__u32 zero = 0;
	struct futex_cpu_tick *t = bpf_map_lookup_elem(&cpu_ticks, &zero);
	if (!t || (t->tick & (stride - 1)) == 0)
		return 0; /* this one is sent */
	t->tick++;
	t->not_sent++;
	struct ccprof_futex_wait w = { .ts = now, .uaddr = uaddr, .word = uaddr, .op = op, .val = val,
				       .owner_syscall = -1, .active = 1 };
	me->wait = w;
	return 1;
}

#endif
