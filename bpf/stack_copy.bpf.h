/* SPDX-License-Identifier: GPL-2.0 */
/* User registers and user stack copies for DWARF unwinding in user space (the
 * layout of profiler::StackCopy: registers in DWARF order, bytes from sp). */
#pragma once
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "common.h"

/* A fixed-window rate limit (stack copies per window), one per key or per CPU. */
struct ccprof_rate_state {
	__u64 window_start;
	__u32 count;
	__u32 pad;
};

/* Counts one event in `r`'s window; 1 while the window has room, else 0. */
static __always_inline int ccprof_rate_take(struct ccprof_rate_state *r, __u64 now, __u64 window_ns, __u32 limit)
{
	if (now - r->window_start > window_ns) {
		r->window_start = now;
		r->count = 0;
	}
	if (r->count >= limit)
		return 0;
	r->count++;
	return 1;
}

/* pt_regs -> DWARF register order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */
static __always_inline void ccprof_copy_user_regs(__u64 *out, struct pt_regs *r)
{
	out[0] = BPF_CORE_READ(r, ax);
	out[1] = BPF_CORE_READ(r, dx);
	out[2] = BPF_CORE_READ(r, cx);
	out[3] = BPF_CORE_READ(r, bx);
	out[4] = BPF_CORE_READ(r, si);
	out[5] = BPF_CORE_READ(r, di);
	out[6] = BPF_CORE_READ(r, bp);
	out[7] = BPF_CORE_READ(r, sp);
	out[8] = BPF_CORE_READ(r, r8);
	out[9] = BPF_CORE_READ(r, r9);
	out[10] = BPF_CORE_READ(r, r10);
	out[11] = BPF_CORE_READ(r, r11);
	out[12] = BPF_CORE_READ(r, r12);
	out[13] = BPF_CORE_READ(r, r13);
	out[14] = BPF_CORE_READ(r, r14);
	out[15] = BPF_CORE_READ(r, r15);
	out[16] = BPF_CORE_READ(r, ip);
}

/* Copies up to `chunks` chunks of `chunk` bytes from `sp`, stopping at the first
 * fault (a main thread may have < 8 KiB above sp). Returns the bytes copied. */
#define CCPROF_COPY_USER_STACK(dst, sp, chunk, chunks)                                    \
	({                                                                                 \
		__u32 __len = 0;                                                           \
		for (int __i = 0; __i < (chunks); __i++) {                                 \
			if (bpf_probe_read_user((dst) + __i * (chunk), (chunk),            \
						(void *)((sp) + __i * (chunk))))           \
				break;                                                     \
			__len = (__i + 1) * (chunk);                                       \
		}                                                                          \
		__len;                                                                     \
	})

/* Sends a copy of the current thread's registers (`regs`) and user stack as a
 * ccprof_stack_event of `type` on ring buffer `rb`. Returns the event's seq, or 0
 * when the ring buffer was full (counted in *dropped) or the first chunk faulted
 * (counted in *failed; both are this CPU's counters: plain adds). One helper for
 * every collector that copies stacks. */
static __always_inline __u64 ccprof_send_stack(void *rb, __u32 type, struct pt_regs *regs, __u32 tid, __u32 tgid,
					       __u64 now, __u64 *seq_next, __u64 *dropped, __u64 *failed)
{
	struct ccprof_stack_event *e = bpf_ringbuf_reserve(rb, sizeof(*e), 0);
	if (!e) {
		(*dropped)++;
		return 0;
	}
	e->type = type;
	e->tid = tid;
	e->tgid = tgid;
	e->time_ns = now;
	ccprof_copy_user_regs(e->regs, regs);
	__u64 sp = e->regs[7];
	e->stack_len = CCPROF_COPY_USER_STACK(e->stack, sp, CCPROF_STACK_CHUNK, CCPROF_STACK_COPY / CCPROF_STACK_CHUNK);
	if (e->stack_len == 0) {
		(*failed)++;
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return 0;
	}
	/* A uretprobe replaced the return address of each function it is active in with
	 * its trampoline; the kernel keeps the originals (newest first). */
	e->n_uret = 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct return_instance *ri = BPF_CORE_READ(task, utask, return_instances);
	for (int i = 0; i < CCPROF_MAX_URET; i++) {
		if (!ri)
			break;
		e->uret_slot[i] = BPF_CORE_READ(ri, stack);
		e->uret_orig[i] = BPF_CORE_READ(ri, orig_ret_vaddr);
		e->n_uret = i + 1;
		ri = BPF_CORE_READ(ri, next);
	}
	__u64 seq = __sync_fetch_and_add(seq_next, 1) + 1;
	e->seq = seq;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return seq;
}
