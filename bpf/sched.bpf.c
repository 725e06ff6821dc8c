// SPDX-License-Identifier: GPL-2.0
/* sched collector: per target thread on/off-CPU time, run-queue delay, voluntary and
 * involuntary switches, creation and exit, time per syscall class; the syscall each
 * thread is in now (ccprof_thread_states, read by the futex collector to say what a
 * lock owner is doing); per (process, syscall, call site) totals; and the long
 * blocking syscalls with a rate-limited user stack copy, and sampled stacks of the
 * syscalls that create threads and grow memory. Everything is aggregated in
 * kernel maps; only thread exits and long syscalls travel through ring buffers. */
#include "common.bpf.h"
#include "sched_events.h"
#include "futex.h"
#include "stack_copy.bpf.h"
#include "futex_wake.bpf.h" /* last_wakes: the futex collector's map */
#include "futex_totals.bpf.h" /* addr_stats, addr_overflow: the futex collector's maps */

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0
#define PF_EXITING 0x00000004

/* Filled by user space from profiler::classify_syscall() before load. */
const volatile __u8 syscall_class[SCHED_MAX_SYSCALL] = {};
/* A blocking syscall at least this long is sent to user space (and maybe stack-copied). */
const volatile __u64 long_syscall_ns = 1000000ULL;
/* Stack copies per (process, syscall, call site) per window; the rest are still counted. */
const volatile __u32 stacks_per_window = 4;
const volatile __u64 window_ns = 100000000ULL;
/* 0 when no futex collector runs (the sched collector alone, in tests). */
const volatile __u32 hand_over_futex = 1;
/* Syscalls after which the target's /proc view may have changed (mappings, exec, thread
 * names): set by the agent from <sys/syscall.h>. */
const volatile __u8 changes_process[SCHED_MAX_SYSCALL] = {};
/* Bumped when a target thread is created or exits or returns from such a syscall: the
 * agent rereads /proc when it moved (at most every 100 ms), and only every second when it
 * did not. In a section (a map, a page) of its own: written rarely, read by the agent
 * through its mmap, and never on a line that hot programs read. A lost increment of a
 * racing CPU still moves it. */
__u64 process_changes SEC(".data.process_changes") = 0;

/* Ablations, for bench/bpf_ablate.py alone: each removes one part of the syscall path
 * so that its cost can be read against the whole build's, in one run on one host. Set
 * only through the CCPROF_BPF_DEFINES cache variable of the benchmark's own build tree;
 * a profiler built with one is wrong (no waits, no wakers or no durations). */
#if defined(CCPROF_ABLATE_CLOCK)
#define syscall_clock() 1ULL /* every syscall reads 0 ns */
#else
#define syscall_clock() bpf_ktime_get_ns()
#endif
/* The agent refuses to run a build with any of them unless the benchmark says so. */
#if defined(CCPROF_ABLATE_CLOCK) || defined(CCPROF_ABLATE_WAKE_RECORD) || defined(CCPROF_ABLATE_WAIT)
const volatile __u32 ablated = 1;
#else
const volatile __u32 ablated = 0;
#endif

CCPROF_MAP(threads, BPF_MAP_TYPE_HASH, CCPROF_MAX_THREADS, __u32, struct sched_thread_stat);

CCPROF_MAP(sites, BPF_MAP_TYPE_HASH, 8192, struct sched_site_key, struct sched_site_stat);

CCPROF_MAP(stack_rate, BPF_MAP_TYPE_LRU_HASH, 4096, struct sched_site_key, struct ccprof_rate_state);

CCPROF_RINGBUF(events, 4 << 20);

/* The futex collector's syscall programs (bpf/futex.bpf.c), put here by the agent before
 * attach: this object owns the raw syscall path and hands each futex syscall over with
 * a tail call, so a futex syscall is traced once, not by two sets of programs. */
CCPROF_MAP(futex_sys_enter_tail, BPF_MAP_TYPE_PROG_ARRAY, 1, __u32, __u32);
CCPROF_MAP(futex_sys_exit_tail, BPF_MAP_TYPE_PROG_ARRAY, 1, __u32, __u32);

/* Stack copies go to their own buffer so a burst of them never crowds out the rest. */
CCPROF_RINGBUF(stack_events, 4 << 20);

CCPROF_PERCPU_COUNTERS(counters, struct sched_counters);
#define COUNT(field) CCPROF_COUNT(counters, struct sched_counters, field)
__u64 stack_seq_next = 0;
/* The initial value of a new thread entry (too big for the BPF stack with the rest). */
struct sched_thread_stat zero_thread = {};

static __always_inline struct sched_thread_stat *get_thread(__u32 tid, __u32 tgid, __u64 now)
{
	struct sched_thread_stat *st = bpf_map_lookup_elem(&threads, &tid);
	if (st)
		return st;
	if (bpf_map_update_elem(&threads, &tid, &zero_thread, BPF_NOEXIST)) {
		st = bpf_map_lookup_elem(&threads, &tid); /* lost a race: someone created it */
		if (!st)
			COUNT(thread_map_full);
		return st;
	}
	st = bpf_map_lookup_elem(&threads, &tid);
	if (st) {
		st->tid = tid;
		st->tgid = tgid;
		st->first_seen_ns = now;
	}
	return st;
}

/* Adds the thread's pending syscall time (ccprof_thread_state.sc_pending_*) to its totals. */
static __always_inline void flush_pending(struct sched_thread_stat *st, struct ccprof_thread_state *ts)
{
	__u32 c = ts->sc_pending_class;
	if (ts->sc_pending_count && c < SCHED_SC_CLASSES) {
		st->sc_ns[c] += ts->sc_pending_ns;
		st->sc_count[c] += ts->sc_pending_count;
	}
	ts->sc_pending_ns = 0;
	ts->sc_pending_count = 0;
}

/* ---- the CPU timeline: every run of a target thread (bpf/sched_events.h) ---- */

#define TASK_DEAD 0x80

/* Set by user space before load (agent/sched_timeline.h says why these values). */
const volatile __u64 run_coalesce_ns = 0;
const volatile __u64 run_window_ns = 100000000ULL;
const volatile __u32 runs_per_window = 0;

/* Per thread, the run not sent yet (on_ns == 0: none). */
CCPROF_MAP(run_states, BPF_MAP_TYPE_HASH, CCPROF_MAX_THREADS, __u32, struct sched_run_event);

struct sched_run_cpu {
	struct ccprof_rate_state budget;  /* runs sent in this CPU's window */
	__u32 last_in_tid;                /* the target thread switched in last on this CPU */
	__u32 pad;
};
CCPROF_MAP(run_cpus, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct sched_run_cpu);

/* Its own buffer: a burst of runs never crowds out thread exits or long syscalls. */
CCPROF_RINGBUF(runs, 2 << 20);

CCPROF_PERCPU_COUNTERS(run_counters, struct sched_run_counters);
#define RUN_COUNT(field) CCPROF_COUNT(run_counters, struct sched_run_counters, field)

static __always_inline void send_run(struct sched_run_cpu *c, struct sched_run_event *r, __u64 now)
{
	if (!ccprof_rate_take(&c->budget, now, run_window_ns, runs_per_window)) {
		RUN_COUNT(runs_over_budget);
		return;
	}
	if (bpf_ringbuf_output(&runs, r, sizeof(*r), BPF_RB_NO_WAKEUP))
		RUN_COUNT(runs_dropped);
}

/* `ready_ns`: since when the thread was runnable (0 = not known). The previous run is
 * sent now, unless the thread is back on the same CPU right away with no other target
 * thread in between: then the run goes on (the cheap case: nothing to send). */
static __always_inline void run_switch_in(__u32 tid, __u32 tgid, __u64 now, __u64 ready_ns)
{
	if (!runs_per_window)
		return; /* the timeline is off (the always-on mode) */
	__u32 zero = 0, cpu = bpf_get_smp_processor_id();
	struct sched_run_cpu *c = bpf_map_lookup_elem(&run_cpus, &zero);
	if (!c)
		return;
	__u32 last_tid = c->last_in_tid;
	c->last_in_tid = tid;
	struct sched_run_event *r = bpf_map_lookup_elem(&run_states, &tid);
	if (!r) {
		struct sched_run_event fresh = { .tid = tid, .tgid = tgid };
		bpf_map_update_elem(&run_states, &tid, &fresh, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&run_states, &tid);
		if (!r) {
			RUN_COUNT(run_state_map_full);
			return;
		}
	} else if (r->on_ns && r->off_ns) {
		__u64 gap = now - r->off_ns;
		if (r->cpu == cpu && last_tid == tid && now >= r->off_ns && gap <= run_coalesce_ns) {
			__u64 sum = r->coalesced_ns + gap;
			r->coalesced_ns = sum > 0xffffffffULL ? 0xffffffffU : (__u32)sum;
			r->coalesced++;
			r->off_ns = 0;
			return;
		}
		send_run(c, r, now);
	}
	r->seq++;
	r->ready_ns = ready_ns && ready_ns <= now ? ready_ns : now;
	r->on_ns = now;
	r->off_ns = 0;
	r->cpu = cpu;
	r->flags = 0;
	r->coalesced_ns = 0;
	r->coalesced = 0;
}

/* The run ends here; it is sent at the next switch-in (it may go on), or now when the
 * thread is exiting (it will not come back to continue it). */
static __always_inline void run_switch_out(struct task_struct *prev, __u32 tid, __u64 now, int runnable,
					   unsigned int prev_state)
{
	if (!runs_per_window)
		return;
	struct sched_run_event *r = bpf_map_lookup_elem(&run_states, &tid);
	if (!r || !r->on_ns || r->off_ns)
		return;
	r->off_ns = now;
	r->flags = runnable ? SCHED_RUN_PREEMPTED : 0;
	if (!(prev->flags & PF_EXITING))  /* a plain BTF load: tp_btf arguments are trusted */
		return;
	r->flags |= SCHED_RUN_EXITING;
	__u32 zero = 0;
	struct sched_run_cpu *c = bpf_map_lookup_elem(&run_cpus, &zero);
	if (c)
		send_run(c, r, now);
	r->on_ns = 0;
	if (prev_state & TASK_DEAD)
		bpf_map_delete_elem(&run_states, &tid);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	/* The tgid first: most switches are other processes' (a task storage lookup that
	 * finds nothing costs them more than the tgid check), and the clock only for a
	 * target's (a read is ~37 ns on the 2-vCPU VM, bench/bpf-ops). */
	__u64 now = 0;
	if (ccprof_is_target_tgid(BPF_CORE_READ(prev, tgid))) {
		now = bpf_ktime_get_ns();
		struct ccprof_thread_state *pts = bpf_task_storage_get(&ccprof_thread_states, prev, 0, 0);
		__u32 ptid = BPF_CORE_READ(prev, pid);
		/* lookup only: a dying thread's last switch must not re-create its entry */
		struct sched_thread_stat *st = bpf_map_lookup_elem(&threads, &ptid);
		if (st) {
			if (pts && pts->sc_pending_count)
				flush_pending(st, pts);
			if (st->last_in_ns && now > st->last_in_ns)
				st->on_cpu_ns += now - st->last_in_ns;
			st->last_in_ns = 0;
			st->last_out_ns = now;
			/* preempted, yielded or woken before it could block: still runnable. A
			 * user-mode thread preempted by the tick switches with preempt == false
			 * (schedule() on the way back to user mode) and prev_state == RUNNING;
			 * this is the kernel's own nvcsw/nivcsw split. */
			if (preempt || prev_state == TASK_RUNNING) {
				st->invol_switches++;
				st->runnable_since_ns = now;
				/* off its CPU while runnable in user mode: a lock it holds waits for a
				 * CPU, not for its work (read by the futex collector at a wait) */
				if (pts && pts->state == CCPROF_TS_RUNNING) {
					pts->since_ns = now;
					pts->state = CCPROF_TS_PREEMPTED;
				}
			} else {
				st->vol_switches++;
				st->runnable_since_ns = 0;
			}
		}
		run_switch_out(prev, ptid, now, preempt || prev_state == TASK_RUNNING, prev_state);
	}
	__u32 ntgid = BPF_CORE_READ(next, tgid);
	if (!ccprof_is_target_tgid(ntgid))
		return 0;
	if (!now)
		now = bpf_ktime_get_ns();
	struct ccprof_thread_state *nts = bpf_task_storage_get(&ccprof_thread_states, next, 0, 0);
	__u32 ntid = BPF_CORE_READ(next, pid);
	struct sched_thread_stat *st;
	if (BPF_CORE_READ(next, flags) & PF_EXITING)
		st = bpf_map_lookup_elem(&threads, &ntid);
	else
		st = get_thread(ntid, ntgid, now);
	if (!st)
		return 0;
	run_switch_in(ntid, ntgid, now, st->runnable_since_ns);
	if (st->last_out_ns && now > st->last_out_ns)
		st->off_cpu_ns += now - st->last_out_ns;
	if (st->runnable_since_ns && now > st->runnable_since_ns) {
		__u64 d = now - st->runnable_since_ns;
		st->runq_ns += d;
		st->runq_count++;
		if (d > st->max_runq_ns)
			st->max_runq_ns = d;
	}
	st->runnable_since_ns = 0;
	st->last_in_ns = now;
	if (nts && nts->state == CCPROF_TS_PREEMPTED)
		nts->state = CCPROF_TS_RUNNING;
	return 0;
}

static __always_inline void on_wakeup(struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (!ccprof_is_target_tgid(tgid))
		return;
	__u32 tid = BPF_CORE_READ(p, pid);
	__u64 now = bpf_ktime_get_ns();
	struct sched_thread_stat *st = get_thread(tid, tgid, now);
	if (!st)
		return;
	st->wakeups++;
	/* a wakeup of a thread still on its CPU (woken before it slept) is no delay */
	if (!st->last_in_ns && !st->runnable_since_ns)
		st->runnable_since_ns = now;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	if (!ccprof_is_target_tgid(ptgid))
		return 0;
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 ctid = BPF_CORE_READ(child, pid);
	/* Whether a new process is followed is the futex program's decision (it owns
	 * ccprof_tgids and is attached first, so its fork handler has run): a child process
	 * it did not add is not a target. */
	if (ctgid != ptgid && !ccprof_is_target_tgid(ctgid))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct sched_thread_stat *st = get_thread(ctid, ctgid, now);
	if (!st)
		return 0;
	st->created_ns = now;
	BPF_CORE_READ_STR_INTO(&st->comm, child, comm);
	process_changes++;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (!ccprof_is_target_tgid(tgid))
		return 0;
	__u32 tid = BPF_CORE_READ(p, pid);
	process_changes++;
	struct sched_thread_stat *st = bpf_map_lookup_elem(&threads, &tid);
	struct ccprof_thread_state *ts = bpf_task_storage_get(&ccprof_thread_states, p, 0, 0);
	if (st && ts)
		flush_pending(st, ts);
	bpf_task_storage_delete(&ccprof_thread_states, p);
	if (!st)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (st->last_in_ns && now > st->last_in_ns)
		st->on_cpu_ns += now - st->last_in_ns;
	st->last_in_ns = 0;
	st->exited_ns = now;
	BPF_CORE_READ_STR_INTO(&st->comm, p, comm);
	struct sched_thread_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		COUNT(thread_events_dropped);
	} else {
		e->type = SCHED_EV_THREAD;
		e->pad = 0;
		bpf_probe_read_kernel(&e->stat, sizeof(e->stat), st);
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	}
	/* the totals are in user space now; free the slot for thread churn */
	bpf_map_delete_elem(&threads, &tid);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sched_sys_enter, struct pt_regs *regs, long id)
{
	/* The tgid first: most syscalls are other processes' (a task storage lookup that
	 * finds nothing costs them more than the hash lookup alone). */
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!ccprof_is_target(pid_tgid))
		return 0;
	struct ccprof_thread_state *ts =
		bpf_task_storage_get(&ccprof_thread_states, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u64 now = syscall_clock();
	if (!ts) {
		COUNT(state_map_full);
	} else {
		/* fields first, state last: a concurrent reader sees a consistent record */
		ts->syscall_nr = id;
		ts->since_ns = now;
		ts->user_ip = regs->ip; /* a BTF pointer: a plain load */
		ts->state = CCPROF_TS_IN_SYSCALL;
	}
	if (hand_over_futex && (id == FUTEX_NR_FUTEX || id == FUTEX_NR_FUTEX_WAIT || id == FUTEX_NR_FUTEX_WAKE ||
				id == FUTEX_NR_FUTEX_WAITV || id == FUTEX_NR_SCHED_YIELD)) {
		/* A wake is recorded here, in the futex collector's map: no tail call, and no
		 * second lookup of the thread's state in the futex program. */
		__u64 woken = ccprof_futex_woken_word(regs, id);
		if (woken) {
#ifndef CCPROF_ABLATE_WAKE_RECORD
			if (ccprof_record_wake(pid_tgid >> 32, (__u32)pid_tgid, woken, now))
				COUNT(futex_wake_map_full);
#endif
			return 0;
		}
#ifdef CCPROF_ABLATE_WAIT
		if (id != FUTEX_NR_SCHED_YIELD)
			return 0;
#endif
		bpf_tail_call(ctx, &futex_sys_enter_tail, 0);
		COUNT(futex_tail_call_failed); /* only reached on failure */
	}
	return 0;
}

static __always_inline int take_stack_sample(struct sched_site_key *k, __u64 now)
{
	struct ccprof_rate_state *r = bpf_map_lookup_elem(&stack_rate, k);
	if (!r) {
		struct ccprof_rate_state fresh = { .window_start = now, .count = 1 };
		bpf_map_update_elem(&stack_rate, k, &fresh, BPF_ANY);
		return 1;
	}
	return ccprof_rate_take(r, now, window_ns, stacks_per_window);
}

static __always_inline __u64 copy_stack(struct pt_regs *regs, __u32 tid, __u32 tgid, __u64 now)
{
	struct sched_counters *c = CCPROF_HERE(counters, struct sched_counters);
	if (!c)
		return 0;
	return ccprof_send_stack(&stack_events, SCHED_EV_STACK, regs, tid, tgid, now, &stack_seq_next,
				 &c->stack_events_dropped, &c->stack_copy_failed);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sched_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
	/* only target threads have a state entry: no tgid lookup needed */
	struct ccprof_thread_state *ts = bpf_task_storage_get(&ccprof_thread_states, bpf_get_current_task_btf(), 0, 0);
	if (!ts || ts->state != CCPROF_TS_IN_SYSCALL)
		return 0;
	__u64 now = syscall_clock();
	__s32 nr = ts->syscall_nr;
	__u64 since = ts->since_ns, ip = ts->user_ip;
	ts->state = CCPROF_TS_RUNNING;
	ts->syscall_nr = -1;
	ts->exit_ns = now; /* the futex programs tail-called below reuse it */
	__u64 d = now > since ? now - since : 0;

	__u32 cls = SCHED_SC_OTHER;
	if (nr >= 0 && nr < SCHED_MAX_SYSCALL) {
		cls = syscall_class[nr];
		if (changes_process[nr])
			process_changes++;
	}
	if (cls >= SCHED_SC_CLASSES)
		cls = SCHED_SC_OTHER;
	/* Into the thread's pending time (its state is at hand); the totals' hash entry is
	 * looked up only when the class changes or the pending count is full. */
	if (ts->sc_pending_count && (ts->sc_pending_class != cls || ts->sc_pending_count >= CCPROF_SC_PENDING_MAX)) {
		struct sched_thread_stat *st = get_thread(tid, tgid, now);
		if (st) {
			flush_pending(st, ts);
		} else { /* no entry (thread_map_full counted it): the pending time is lost */
			ts->sc_pending_ns = 0;
			ts->sc_pending_count = 0;
		}
	}
	ts->sc_pending_class = cls;
	ts->sc_pending_ns += d;
	ts->sc_pending_count++;
	if (hand_over_futex && (nr == FUTEX_NR_FUTEX || nr == FUTEX_NR_FUTEX_WAIT || nr == FUTEX_NR_FUTEX_WAITV)) {
		if (!ts->wait.active)
			return 0; /* a wake, or a wait the futex program did not start: nothing to end */
		if (!ts->wait.sent_every) {
			/* A wait whose event is not sent (the stride, counted when it began): its
			 * totals are all there is to do, done here without the tail call. */
			ts->wait.active = 0;
			if (ccprof_count_wait(tgid, ts->wait.uaddr, now > ts->wait.ts ? now - ts->wait.ts : 0))
				COUNT(futex_addr_map_full);
			return 0;
		}
		bpf_tail_call(ctx, &futex_sys_exit_tail, 0);
		COUNT(futex_tail_call_failed);
		return 0;
	}
	if (cls == SCHED_SC_FUTEX)
		return 0; /* the futex collector has every wait */

	struct sched_site_key k = { .tgid = tgid, .nr = nr, .ip = ip };
	struct sched_site_stat *s = bpf_map_lookup_elem(&sites, &k);
	if (!s) {
		struct sched_site_stat fresh = {};
		if (bpf_map_update_elem(&sites, &k, &fresh, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&sites, &k))
			COUNT(site_map_full);
		s = bpf_map_lookup_elem(&sites, &k);
	}
	if (s)
		ccprof_add_duration(&s->count, &s->total_ns, &s->max_ns, d);
	if (hand_over_futex && nr == FUTEX_NR_SCHED_YIELD) {
		/* counted at its site above; the futex programs charge yields inside a lock
		 * library's slow path to its lock */
		bpf_tail_call(ctx, &futex_sys_exit_tail, 0);
		COUNT(futex_tail_call_failed);
		return 0;
	}

	__u64 seq = 0;
	if (cls == SCHED_SC_SPAWN || cls == SCHED_SC_MEMGROW) {
		/* where threads are created / memory grows: only the stack-sampled ones */
		if (!take_stack_sample(&k, now))
			return 0;
		seq = copy_stack(regs, tid, tgid, now);
		if (!seq)
			return 0;
	} else {
		if (d < long_syscall_ns ||
		    !(cls == SCHED_SC_IO || cls == SCHED_SC_SLEEP || cls == SCHED_SC_POLL))
			return 0;
		if (take_stack_sample(&k, now))
			seq = copy_stack(regs, tid, tgid, now);
		else
			COUNT(stacks_rate_limited);
	}
	struct sched_syscall_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		COUNT(syscall_events_dropped);
		return 0;
	}
	e->type = SCHED_EV_SYSCALL;
	e->tid = tid;
	e->tgid = tgid;
	e->nr = nr;
	e->enter_ns = since;
	e->duration_ns = d;
	e->ip = ip;
	e->stack_seq = seq;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
