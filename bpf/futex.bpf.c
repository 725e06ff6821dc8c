// SPDX-License-Identifier: GPL-2.0
/* futex collector: every futex wait of the target threads (duration, lock owner and
 * what the owner was doing), exact per-address totals in kernel maps, a rate-limited
 * copy of the waiter's user stack for DWARF unwinding in user space, and thread
 * creation/exit (following child processes into the shared tgid set). */
#include "common.bpf.h"
#include "futex.h"
#include "stack_copy.bpf.h"
#include "futex_wake.bpf.h" /* last_wakes */
#include "futex_totals.bpf.h" /* addr_stats, addr_overflow */

char LICENSE[] SEC("license") = "GPL";

/* kfuncs (Linux 6.2+): a thread's task by its tid, to read its task storage */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

/* Stack copies per lock per 100 ms window; the rest of the waits are still counted. */
const volatile __u32 stacks_per_window = 16;
/* ...and per CPU per window over all locks, so a program with thousands of locks cannot
 * flood the stack ring buffer with 8 KiB copies (200 per 100 ms = 16 MB/s per CPU). */
const volatile __u32 cpu_stacks_per_window = 200;
const volatile __u64 window_ns = 100000000ULL;
const volatile __u32 follow_children = 1;
/* 1 when the sched collector's syscall programs tail-call the futex ones: they have
 * already checked that the thread is a target's. */
const volatile __u32 tail_called = 0;
/* Set by the agent once a lock library's slow path has a uprobe (lock_objects). */
__u32 slow_paths_probed = 0;

/* The wait in flight is in the thread's state (ccprof_thread_states, the `wait` field):
 * no hash update and delete per wait (the biggest part of a wait's BPF cost when it was
 * a hash map), the same task storage the sched collector's syscall programs have just
 * looked up, freed with the thread. */

/* The thread's state: created here when the futex programs trace the syscalls
 * themselves (no sched collector); when tail-called, the sched collector's sys_enter has
 * created it. */
static __always_inline struct ccprof_thread_state *my_state(struct task_struct *task)
{
	return bpf_task_storage_get(&ccprof_thread_states, task, 0, tail_called ? 0 : BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/* When this syscall began / ended: when tail-called, the sched collector's syscall
 * programs have just read the clock into the thread's state (a clock read is ~37 ns on
 * the 2-vCPU VM, a task storage lookup ~9 ns: bench/bpf-ops). */
static __always_inline __u64 entry_ns(struct ccprof_thread_state *me)
{
	return tail_called && me ? me->since_ns : bpf_ktime_get_ns();
}

static __always_inline __u64 exit_ns(struct ccprof_thread_state *me)
{
	return tail_called && me ? me->exit_ns : bpf_ktime_get_ns();
}

static __always_inline struct ccprof_thread_state *my_state_if_tail_called(void)
{
	return tail_called ? bpf_task_storage_get(&ccprof_thread_states, bpf_get_current_task_btf(), 0, 0) : NULL;
}

CCPROF_MAP(stack_rate, BPF_MAP_TYPE_LRU_HASH, 16384, struct futex_addr_key, struct ccprof_rate_state);

CCPROF_MAP(cpu_stack_rate, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct ccprof_rate_state);

CCPROF_RINGBUF(events, 8 << 20);

/* Stack copies go to their own buffer so a burst of them never crowds out waits. */
CCPROF_RINGBUF(stack_events, 8 << 20);

/* Locks whose waiters sleep on another futex word: a library's lock slow path (uprobe
 * at its entry, e.g. absl::Mutex::LockSlowLoop) records per thread the lock it is
 * acquiring, and the futex waits inside it are charged to that lock. Only contended
 * acquisitions reach a slow path, so only they trap. No uretprobe clears it: one would
 * replace the slow path's return address on the stack with the kernel's trampoline,
 * and the waits' stacks would no longer unwind to the user's call site. Instead a wait
 * is inside the slow path while its stack is deeper than the slow path's entry and the
 * return address the slow path was entered with is still in its slot. */
struct lock_object {
	__u64 lock;  /* the lock (the slow path's first argument) */
	__u64 sp;    /* user stack pointer at the slow path's entry: its return address slot */
	__u64 ret;   /* the return address found there */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CCPROF_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct lock_object);
} lock_objects SEC(".maps");

CCPROF_PERCPU_COUNTERS(counters, struct futex_counters);
#define COUNT(field) CCPROF_COUNT(counters, struct futex_counters, field)
/* The agent keeps a uniform sample of the waits (at most ~200k in memory, halved and
 * its stride doubled when full): it writes that stride here, a power of two, so that
 * waits it would drop are not sent at all. Every wait with a stack copy is sent. */
__u64 send_every = 1;
CCPROF_MAP(cpu_ticks, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct futex_cpu_tick);
__u64 stack_seq_next = 0;

static __always_inline int is_wait_cmd(__u32 cmd)
{
	/* WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2 */
	return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
}

static __always_inline int is_pi_cmd(__u32 cmd)
{
	return cmd == 6 || cmd == 13;
}

static __always_inline int cpu_budget_left(__u64 now)
{
	__u32 zero = 0;
	struct ccprof_rate_state *r = bpf_map_lookup_elem(&cpu_stack_rate, &zero);
	return r && ccprof_rate_take(r, now, window_ns, cpu_stacks_per_window);
}

/* `me`: the waiting thread's state, where it remembers the lock whose budget it found
 * spent and until when (the same window as the budget's own: another CPU that starts the
 * lock's next window does so at the same moment this cache expires). */
static __always_inline int lock_budget_left(struct ccprof_thread_state *me, __u32 tgid, __u64 uaddr, __u64 now)
{
	if (me->stack_spent_lock == uaddr && now - me->stack_spent_window <= window_ns)
		return 0;
	struct futex_addr_key k = { .tgid = tgid, .uaddr = uaddr };
	struct ccprof_rate_state *r = bpf_map_lookup_elem(&stack_rate, &k);
	if (!r) {
		struct ccprof_rate_state fresh = { .window_start = now, .count = 1 };
		bpf_map_update_elem(&stack_rate, &k, &fresh, BPF_ANY);
		return 1;
	}
	if (ccprof_rate_take(r, now, window_ns, stacks_per_window))
		return 1;
	me->stack_spent_lock = uaddr;
	me->stack_spent_window = r->window_start;
	return 0;
}

static __always_inline int take_stack_sample(struct ccprof_thread_state *me, __u32 tgid, __u64 uaddr, __u64 now)
{
	return lock_budget_left(me, tgid, uaddr, now) && cpu_budget_left(now);
}

/* `regs`: the user registers, the raw syscall tracepoint's argument (a BTF pointer). */
static __always_inline __u64 copy_stack(struct pt_regs *regs, __u32 tid, __u32 tgid, __u64 now)
{
	struct futex_counters *c = CCPROF_HERE(counters, struct futex_counters);
	if (!c)
		return 0;
	return ccprof_send_stack(&stack_events, FUTEX_EV_STACK, regs, tid, tgid, now, &stack_seq_next,
				 &c->stack_events_dropped, &c->stack_copy_failed);
}

/* The lock of the slow path `tid` is in at user stack pointer `sp` (lock_objects), 0
 * when it is in none; an entry whose slow path has returned is removed. */
static __always_inline __u64 slow_path_lock(__u32 tid, __u64 sp)
{
	struct lock_object *lock = slow_paths_probed ? bpf_map_lookup_elem(&lock_objects, &tid) : NULL;
	__u64 ret = 0;
	if (!lock)
		return 0;
	if (sp < lock->sp && !bpf_probe_read_user(&ret, sizeof(ret), (void *)lock->sp) && ret == lock->ret)
		return lock->lock;
	bpf_map_delete_elem(&lock_objects, &tid); /* the slow path has returned */
	return 0;
}

/* The stride a wait is sent under, 0 when it is not sent: every wait with a stack copy
 * is, and 1 in send_every of the others (counted per CPU, here at its start: its end
 * then needs no second lookup). */
static __always_inline __u32 send_stride(__u64 stack_seq)
{
	__u64 stride = send_every;
	if (stack_seq || stride <= 1)
		return stride ? stride : 1;
	__u32 zero = 0;
	struct futex_cpu_tick *t = bpf_map_lookup_elem(&cpu_ticks, &zero);
	if (t && (t->tick++ & (stride - 1)) != 0) {
		t->not_sent++;
		return 0;
	}
	return stride;
}

/* The holder: a PI futex word holds the owner's tid; a glibc pthread_mutex_t keeps it in
 * __owner (int at offset 8 on x86-64). Validated against the thread list in user space,
 * since a condvar's futex has no owner there. A library lock charged through
 * lock_objects has no owner field: its waker names the releaser. */
static __always_inline void read_owner(struct ccprof_futex_wait *st, __u32 tid, __u64 uaddr, __u32 op)
{
	if (is_pi_cmd(op & 127)) {
		__u32 word = 0;
		if (!bpf_probe_read_user(&word, sizeof(word), (void *)uaddr))
			st->owner = word & 0x3fffffff;
	} else {
		__s32 owner = 0;
		if (!bpf_probe_read_user(&owner, sizeof(owner), (void *)(uaddr + 8)))
			st->owner = owner;
	}
	if (st->owner <= 0 || (__u32)st->owner == tid)
		return;
	/* the owner's state is in its task storage: find its task by tid */
	struct task_struct *o = bpf_task_from_pid(st->owner);
	if (!o)
		return;
	struct ccprof_thread_state *ts = bpf_task_storage_get(&ccprof_thread_states, o, 0, 0);
	if (ts && ts->state == CCPROF_TS_IN_SYSCALL) {
		st->owner_syscall = ts->syscall_nr;
		st->owner_since_ns = ts->since_ns;
		st->owner_ip = ts->user_ip;
	} else if (ts && ts->state == CCPROF_TS_PREEMPTED) {
		st->owner_syscall = CCPROF_OWNER_PREEMPTED;
		st->owner_since_ns = ts->since_ns;
	}
	bpf_task_release(o);
}

static __always_inline int on_wait_enter(struct pt_regs *regs, __u64 uaddr, __u32 op, __u32 val)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!tail_called && !ccprof_is_target(id))
		return 0;
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	struct ccprof_thread_state *me = my_state(task);
	if (!me) {
		COUNT(start_map_full);
		return 0;
	}
	__u64 now = entry_ns(me);
	struct ccprof_futex_wait st = { .ts = now, .uaddr = uaddr, .word = uaddr, .op = op, .val = val,
					.owner_syscall = -1, .active = 1 };
	/* regs is the raw tracepoint's BTF pointer: a plain load, not a probe read */
	const __u64 lock = slow_path_lock(tid, regs->sp);
	if (lock)
		st.uaddr = lock;
	if (take_stack_sample(me, tgid, st.uaddr, now))
		st.stack_seq = copy_stack(regs, tid, tgid, now);
	else
		COUNT(stacks_rate_limited);
	/* Decided at the start, so that a wait that is not sent skips the owner: its read
	 * of the target's memory is the dearest step of a wait (~85 ns, bench/bpf-ops), and
	 * only the sent waits carry it. The per-lock totals count every wait. */
	st.sent_every = send_stride(st.stack_seq);
	if (st.sent_every && !lock)
		read_owner(&st, tid, uaddr, op);
	me->wait = st;
	return 0;
}

static __always_inline int on_wait_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct ccprof_thread_state *me = bpf_task_storage_get(&ccprof_thread_states, bpf_get_current_task_btf(), 0, 0);
	if (!me || !me->wait.active)
		return 0;
	struct ccprof_futex_wait *st = &me->wait;
	st->active = 0;
	__u64 now = exit_ns(me);
	__u64 d = now > st->ts ? now - st->ts : 0;
	if (ccprof_count_wait(tgid, st->uaddr, d))
		COUNT(addr_map_full);
	if (!st->sent_every)
		return 0; /* counted in cpu_ticks when it began */
	struct futex_wait_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		COUNT(wait_events_dropped);
	} else {
		e->type = FUTEX_EV_WAIT;
		e->tid = tid;
		e->tgid = tgid;
		e->op = st->op;
		e->uaddr = st->uaddr;
		e->val = st->val;
		e->owner = st->owner;
		e->start_ns = st->ts;
		e->duration_ns = d;
		e->ret = ret;
		e->stack_seq = st->stack_seq;
		e->owner_syscall = st->owner_syscall;
		e->sent_every = st->sent_every;
		e->owner_since_ns = st->owner_since_ns;
		e->owner_ip = st->owner_ip;
		e->word = st->word != st->uaddr ? st->word : 0;
		e->waker = 0;
		e->pad2 = 0;
		e->woken_ns = 0;
		struct futex_addr_key wk = { .tgid = tgid, .uaddr = st->word };
		struct futex_wake_record *w = bpf_map_lookup_elem(&last_wakes, &wk);
		/* woken (ret 0) after the wait began, by another thread */
		if (ret == 0 && w && w->ts >= st->ts && w->tid != tid) {
			e->waker = w->tid;
			e->woken_ns = w->ts;
		}
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	}
	return 0;
}

static __always_inline int on_wake(__u64 uaddr)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!tail_called && !ccprof_is_target(id))
		return 0;
	if (ccprof_record_wake(id >> 32, (__u32)id, uaddr, entry_ns(my_state_if_tail_called())))
		COUNT(wake_map_full);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(lock_slow_enter, void *lock)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!ccprof_is_target(id))
		return 0;
	__u32 tid = (__u32)id;
	struct lock_object o = { .lock = (__u64)lock, .sp = PT_REGS_SP(ctx) };
	/* at function entry the return address is at the top of the stack */
	if (bpf_probe_read_user(&o.ret, sizeof(o.ret), (void *)o.sp))
		return 0;
	if (bpf_map_update_elem(&lock_objects, &tid, &o, BPF_ANY))
		COUNT(lock_object_map_full);
	return 0;
}

/* sched_yield() of target threads: per (thread, lock, caller) count and time (futex.h,
 * lock_yield_key). User space keeps those whose caller is a lock library's acquisition
 * code and charges them to the lock. */
struct yield_start {
	__u64 ts;
	__u64 lock;
	__u64 caller;
	__u64 active;  /* a yield began and has not ended */
};

/* In the thread's task storage, like the wait in flight: lock libraries
 * yield hundreds of thousands of times a second. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct yield_start);
} yield_starts SEC(".maps");

CCPROF_MAP(lock_yields, BPF_MAP_TYPE_HASH, 16384, struct lock_yield_key, struct lock_yield_stat);

/* Dispatched from futex_sys_enter/futex_sys_exit like the futex syscalls (one pair of
 * programs owns the syscall path). */
static __always_inline int on_yield_enter(struct pt_regs *regs)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!tail_called && !ccprof_is_target(id))
		return 0;
	__u32 tid = (__u32)id;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 sp = regs->sp;
	struct yield_start st = { .ts = entry_ns(my_state_if_tail_called()), .lock = slow_path_lock(tid, sp),
				  .active = 1 };
	/* glibc's sched_yield is a leaf (mov $24,%eax; syscall; ret): at the syscall the
	 * top of the user stack is the return address into its caller. */
	if (bpf_probe_read_user(&st.caller, sizeof(st.caller), (void *)sp))
		st.caller = 0;
	struct yield_start *slot = bpf_task_storage_get(&yield_starts, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (slot)
		*slot = st;
	else
		COUNT(yield_map_full);
	return 0;
}

static __always_inline int on_yield_exit(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct yield_start *st = bpf_task_storage_get(&yield_starts, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->active)
		return 0;
	st->active = 0;
	struct lock_yield_key k = { .tgid = id >> 32, .tid = tid, .lock = st->lock, .caller = st->caller };
	__u64 end = exit_ns(my_state_if_tail_called());
	__u64 d = end > st->ts ? end - st->ts : 0;
	struct lock_yield_stat *y = bpf_map_lookup_elem(&lock_yields, &k);
	if (!y) {
		struct lock_yield_stat zero = {};
		if (bpf_map_update_elem(&lock_yields, &k, &zero, BPF_NOEXIST) && !bpf_map_lookup_elem(&lock_yields, &k)) {
			COUNT(yield_map_full);
			return 0;
		}
		y = bpf_map_lookup_elem(&lock_yields, &k);
		if (!y)
			return 0;
	}
	__sync_fetch_and_add(&y->yields, 1);
	__sync_fetch_and_add(&y->yield_ns, d);
	return 0;
}

/* Every futex syscall of a target enters here, once: tail-called from the sched
 * collector's raw sys_enter program (which owns the syscall path and has already done
 * the target check and the thread's syscall state), or attached to raw sys_enter
 * itself when the sched collector does not run. Arguments come from the user registers
 * (x86-64 syscall ABI: rdi, rsi, rdx, r10, r8, r9). */
SEC("tp_btf/sys_enter")
int BPF_PROG(futex_sys_enter, struct pt_regs *regs, long id)
{
	if (id == FUTEX_NR_FUTEX) {
		/* regs is a BTF pointer here: plain loads, no bpf_probe_read per argument */
		__u64 uaddr = regs->di;
		__u32 op = regs->si;
		__u32 cmd = op & 127; /* strip FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */
		if (ccprof_futex_woken_word(regs, id))
			return on_wake(uaddr);
		if (!is_wait_cmd(cmd))
			return 0;
		return on_wait_enter(regs, uaddr, cmd, (__u32)regs->dx);
	}
	if (id == FUTEX_NR_SCHED_YIELD)
		return on_yield_enter(regs);
	/* futex2 syscalls (Linux 6.7+) */
	if (id == FUTEX_NR_FUTEX_WAIT)
		return on_wait_enter(regs, regs->di, FUTEX_OP_WAIT2, (__u32)regs->si);
	if (id == FUTEX_NR_FUTEX_WAKE)
		return on_wake(regs->di);
	if (id == FUTEX_NR_FUTEX_WAITV) {
		struct futex_waitv w = {};
		if (bpf_probe_read_user(&w, sizeof(w), (void *)regs->di))
			return 0;
		return on_wait_enter(regs, w.uaddr, FUTEX_OP_WAITV, (__u32)w.val);
	}
	return 0;
}

/* The end of a futex wait: tail-called like futex_sys_enter, or attached to raw
 * sys_exit (then it runs for every syscall on the machine: the syscall number, in
 * orig_ax at exit, is checked first). */
SEC("tp_btf/sys_exit")
int BPF_PROG(futex_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	if (nr == FUTEX_NR_SCHED_YIELD)
		return on_yield_exit();
	if (nr != FUTEX_NR_FUTEX && nr != FUTEX_NR_FUTEX_WAIT && nr != FUTEX_NR_FUTEX_WAITV)
		return 0;
	return on_wait_exit(ret);
}

static __always_inline void thread_event(struct task_struct *t, __u32 exited)
{
	struct futex_thread_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		COUNT(thread_events_dropped);
		return;
	}
	e->type = FUTEX_EV_THREAD;
	e->tid = BPF_CORE_READ(t, pid);
	e->tgid = BPF_CORE_READ(t, tgid);
	e->exited = exited;
	e->time_ns = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(futex_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	if (!ccprof_is_target_tgid(ptgid))
		return 0;
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ctgid != ptgid) {
		/* a new process: follow it */
		if (!follow_children)
			return 0;
		/* two targets now: every filter goes back to the set (cleared before the
		 * child is added, so that no filter misses it) */
		__u32 zero = 0;
		__u32 *sole = bpf_map_lookup_elem(&ccprof_sole_tgid, &zero);
		if (sole)
			*sole = 0;
		__u8 one = 1;
		bpf_map_update_elem(&ccprof_tgids, &ctgid, &one, BPF_ANY);
	}
	thread_event(child, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(futex_thread_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (!ccprof_is_target_tgid(tgid))
		return 0;
	__u32 tid = BPF_CORE_READ(p, pid);
	bpf_map_delete_elem(&lock_objects, &tid); /* a thread that exits inside no slow path */
	thread_event(p, 1);
	return 0;
}
