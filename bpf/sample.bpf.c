// SPDX-License-Identifier: GPL-2.0
/* Memory-access sampler, decode mode: a BPF program on PERF_COUNT_SW_CPU_CLOCK,
 * one perf event per online CPU (pid = -1, so threads created later are sampled
 * without re-attaching). It keeps the user-mode samples of the target tgids and
 * records the interrupted user registers and fsbase. */
#include "common.bpf.h"
#include "sample.h"

char LICENSE[] SEC("license") = "GPL";

CCPROF_RINGBUF(samples, 1 << 22); /* resized by the agent before load */

CCPROF_PERCPU_COUNTERS(counters, struct sample_counters);
#define COUNT(field) CCPROF_COUNT(counters, struct sample_counters, field)

SEC("perf_event")
int on_cpu_clock(struct bpf_perf_event_data *ctx)
{
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
	struct sample_event *e = bpf_ringbuf_reserve(&samples, sizeof(*e), 0);
	if (!e) {
		COUNT(ringbuf_drops);
		return 0;
	}
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->cpu = bpf_get_smp_processor_id();
	e->pad = 0;
	e->time_ns = bpf_ktime_get_ns();
	/* Direct 8-byte loads from ctx (the verifier allows no narrower ones). */
	e->regs[0] = ctx->regs.ax;
	e->regs[1] = ctx->regs.dx;
	e->regs[2] = ctx->regs.cx;
	e->regs[3] = ctx->regs.bx;
	e->regs[4] = ctx->regs.si;
	e->regs[5] = ctx->regs.di;
	e->regs[6] = ctx->regs.bp;
	e->regs[7] = ctx->regs.sp;
	e->regs[8] = ctx->regs.r8;
	e->regs[9] = ctx->regs.r9;
	e->regs[10] = ctx->regs.r10;
	e->regs[11] = ctx->regs.r11;
	e->regs[12] = ctx->regs.r12;
	e->regs[13] = ctx->regs.r13;
	e->regs[14] = ctx->regs.r14;
	e->regs[15] = ctx->regs.r15;
	e->regs[16] = ctx->regs.ip;
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
	return 0;
}
