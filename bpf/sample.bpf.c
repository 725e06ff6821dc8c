// SPDX-License-Identifier: GPL-2.0
/* Memory-access sampler, decode mode: a BPF program on PERF_COUNT_SW_CPU_CLOCK,
 * one perf event per online CPU (pid = -1, so threads created later are sampled
 * without re-attaching), or on the scheduler's tick (on_tick, --sampler-clock tick). It
 * keeps the user-mode samples of the target tgids and records the interrupted user
 * registers and fsbase. */
#include "common.bpf.h"
#include "sample.h"

char LICENSE[] SEC("license") = "GPL";

CCPROF_RINGBUF(samples, 1 << 22); /* resized by the agent before load */

CCPROF_PERCPU_COUNTERS(counters, struct sample_counters);

/* The rate is the one asked for / 2^rate_level: the agent raises the level to keep the
 * sampler under its CPU budget (agent/sampler_budget.h), on a timer with
 * PERF_EVENT_IOC_PERIOD, on the tick by sampling 1 in 2^rate_level ticks. Each sample
 * carries the level it was taken at (set before the timers' periods change: at most one
 * firing per CPU is labelled with the new level while still at the old period). */
volatile __u32 rate_level = 0;
#define COUNT(field) CCPROF_COUNT(counters, struct sample_counters, field)

/* The sample's record: reserved, its user registers filled by the caller, then
 * sample_finish() adds fsbase, the stack windows and the frame-pointer levels. */
static __always_inline struct sample_event *sample_begin(__u64 id, __u32 level)
{
	struct sample_event *e = bpf_ringbuf_reserve(&samples, sizeof(*e), 0);
	if (!e) {
		COUNT(ringbuf_drops);
		return NULL;
	}
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->cpu = bpf_get_smp_processor_id();
	e->level = level;
	e->time_ns = bpf_ktime_get_ns();
	return e;
}

static __always_inline void sample_finish(struct sample_event *e, __u64 t0)
{
	struct task_struct *task = bpf_get_current_task_btf();
	e->fsbase = BPF_CORE_READ(task, thread.fsbase);
	/* Stack windows for the decoder's data-flow recovery (see sample.h). The user
	 * pages are resident (the thread was just running on them); a failed copy is
	 * counted and leaves the window empty. */
	__u64 sp = e->regs[7], bp = e->regs[6];
	e->sp_window_addr = sp - SAMPLE_SP_BELOW;
	e->sp_window_len = SAMPLE_STACK_WINDOW;
	if (bpf_probe_read_user(e->sp_window, SAMPLE_STACK_WINDOW, (void *)(sp - SAMPLE_SP_BELOW))) {
		e->sp_window_len = 0;
		COUNT(stack_window_failed);
	}
	/* rbp is a frame pointer only when it points a little above rsp; otherwise it is
	 * a general register and what it points to is not this thread's stack. */
	e->bp_window_addr = bp - SAMPLE_STACK_WINDOW;
	e->bp_window_len = 0;
	if (bp >= sp && bp - sp < (1 << 20) &&
	    !bpf_probe_read_user(e->bp_window, SAMPLE_STACK_WINDOW, (void *)(bp - SAMPLE_STACK_WINDOW)))
		e->bp_window_len = SAMPLE_STACK_WINDOW;
	/* The frame-pointer chain's first levels (sample.h): 16 bytes per level, each frame
	 * above the one before it and within the stack (a saved rbp that is not is no
	 * frame pointer, and the walk stops). */
	__u64 fp = bp, lo = sp;
	for (int i = 0; i < SAMPLE_FRAME_LEVELS; ++i) {
		e->frame_addr[i] = 0;
		e->frame[i][0] = e->frame[i][1] = 0;
	}
	for (int i = 0; i < SAMPLE_FRAME_LEVELS; ++i) {
		if (fp < lo || fp - lo >= (1 << 20) || bpf_probe_read_user(e->frame[i], 16, (void *)fp))
			break;
		e->frame_addr[i] = fp;
		lo = fp + 16;
		fp = e->frame[i][0];
	}
	/* No wakeup: the agent drains every ~20 ms. A wakeup per record put up to 40%
	 * of the samples into the kernel on this kind of VM (probe q45). */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	/* The program's own time, for the sampler's CPU budget (agent/sampler_budget.h). */
	struct sample_counters *c = CCPROF_HERE(counters, struct sample_counters);
	if (c)
		c->bpf_ns += bpf_ktime_get_ns() - t0;
}

/* The 17 user registers in DWARF order (sample.h) from a pt_regs. */
#define SAMPLE_REGS(e, r)                 \
	do {                              \
		(e)->regs[0] = (r).ax;    \
		(e)->regs[1] = (r).dx;    \
		(e)->regs[2] = (r).cx;    \
		(e)->regs[3] = (r).bx;    \
		(e)->regs[4] = (r).si;    \
		(e)->regs[5] = (r).di;    \
		(e)->regs[6] = (r).bp;    \
		(e)->regs[7] = (r).sp;    \
		(e)->regs[8] = (r).r8;    \
		(e)->regs[9] = (r).r9;    \
		(e)->regs[10] = (r).r10;  \
		(e)->regs[11] = (r).r11;  \
		(e)->regs[12] = (r).r12;  \
		(e)->regs[13] = (r).r13;  \
		(e)->regs[14] = (r).r14;  \
		(e)->regs[15] = (r).r15;  \
		(e)->regs[16] = (r).ip;   \
	} while (0)

SEC("perf_event")
int on_cpu_clock(struct bpf_perf_event_data *ctx)
{
	__u64 t0 = bpf_ktime_get_ns();
	COUNT(samples);
	__u64 id = bpf_get_current_pid_tgid();
	if (!ccprof_is_target(id))
		return 0;
	COUNT(target);
	/* ctx->regs is the interrupted context; cs RPL 3 = user mode. The event has
	 * exclude_kernel set, so this only counts what slips through. */
	/* cs is a u16 in pt_regs, but the verifier allows only 8-byte ctx loads: read
	 * the whole word (pt_regs slot 17 on x86-64). */
	__u64 cs = ((volatile __u64 *)ctx)[17];
	if ((cs & 3) != 3) {
		COUNT(kernel_mode);
		return 0;
	}
	struct sample_event *e = sample_begin(id, rate_level);
	if (!e)
		return 0;
	/* Direct 8-byte loads from ctx (the verifier allows no narrower ones). */
	SAMPLE_REGS(e, ctx->regs);
	sample_finish(e, t0);
	return 0;
}

/* Tick mode: the scheduler's own tick (an hrtimer whose handler is tick_sched_timer,
 * tick_nohz_handler since Linux 6.9; its address set by the agent from kallsyms) fires
 * HZ times a second on every busy CPU whether ccprof samples or not, so sampling there
 * costs the BPF program alone, not a timer interrupt of its own (a VM exit in a VM).
 * Where the tick interrupted user mode, the entry code saved the user registers at the
 * top of the task's kernel stack (task_pt_regs) with orig_ax = ~vector, negative; where
 * it interrupted the kernel, those are the registers of the syscall or exception that
 * entered it (orig_ax = the syscall number or error code, >= 0): no user sample. (The
 * CPU's __irq_regs would say the same, but a per-CPU variable is not in kallsyms
 * without CONFIG_KALLSYMS_ALL, as on Debian's kernels.) */
const volatile __u64 tick_handler = 0;

CCPROF_MAP(tick_periods, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u32, struct tick_period);

SEC("tp_btf/hrtimer_expire_entry")
int BPF_PROG(on_tick, struct hrtimer *timer, ktime_t *now)
{
	if ((__u64)timer->function != tick_handler)
		return 0;
	__u64 t0 = bpf_ktime_get_ns();
	__u32 level = rate_level & 15;
	struct tick_period *tp = CCPROF_HERE(tick_periods, struct tick_period);
	if (tp) {
		__s64 expires = timer->node.expires, step = expires - tp->last_expires;
		if (tp->last_expires && step > 0 && (!tp->min_step_ns || step < tp->min_step_ns))
			tp->min_step_ns = step;
		tp->last_expires = expires;
		if (level && (tp->ticks++ & ((1u << level) - 1)))
			return 0;
	}
	COUNT(samples);
	__u64 id = bpf_get_current_pid_tgid();
	if (!ccprof_is_target(id))
		return 0;
	COUNT(target);
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if ((long)regs->orig_ax >= 0) {
		COUNT(kernel_mode);
		return 0;
	}
	struct sample_event *e = sample_begin(id, level);
	if (!e)
		return 0;
	SAMPLE_REGS(e, *regs);
	sample_finish(e, t0);
	return 0;
}
