/* SPDX-License-Identifier: GPL-2.0 */
/* Memory-access sampler, decode mode: one event per user-mode timer sample of a
 * target thread. User space decodes the instruction before regs[16] (the IP) to
 * find the data address (profiler/decode_access.h). Fixed-width fields only. */
#pragma once
#include "common.h"

#define SAMPLE_NUM_REGS 17
/* Bytes of user stack kept per sample in each of two windows: [rsp - 64, rsp + 192)
 * for rsp-relative spill slots (and the red zone), and [rbp - 256, rbp) for the
 * locals of -O0 frames. The decoder reads the slot an overwritten base register was
 * loaded from (profiler/decode_access.h). 2 x 256 bytes: -O0 frames of hot loops
 * keep their pointers within the first few slots below rbp. */
#define SAMPLE_STACK_WINDOW 256
#define SAMPLE_SP_BELOW 64
/* Levels of the frame-pointer chain kept per sample: {saved rbp, return address} at
 * rbp and at the saved rbp. With frame pointers (-O0) they name the sampled
 * function's caller and its caller's caller, so an access in a function called from
 * inside a critical section is seen there (profiler/frame_callers.h); without them
 * (-O2 -fomit-frame-pointer) rbp is no frame and nothing is read. */
#define SAMPLE_FRAME_LEVELS 2

struct sample_event {
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	__u32 level;                    /* the rate it was taken at: the rate asked for / 2^level
	                                 * (rate_level, agent/sampler_budget.h) */
	__u64 time_ns;                  /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 regs[SAMPLE_NUM_REGS];    /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */
	__u64 fsbase;                   /* for fs-relative (TLS) operands */
	__u64 sp_window_addr;           /* user address of sp_window[0] */
	__u64 bp_window_addr;           /* user address of bp_window[0] */
	__u32 sp_window_len;            /* 0 when the copy failed */
	__u32 bp_window_len;            /* 0 when it failed or rbp is not a frame above rsp */
	__u8 sp_window[SAMPLE_STACK_WINDOW];
	__u8 bp_window[SAMPLE_STACK_WINDOW];
	__u64 frame_addr[SAMPLE_FRAME_LEVELS];     /* user address of frame[i]; 0 when not read */
	__u64 frame[SAMPLE_FRAME_LEVELS][2];       /* {saved rbp, return address} */
};

/* Every sample the program saw, and what became of it (shown as losses). */
struct sample_counters {
	__u64 samples;        /* program runs (all tasks on the sampled CPUs) */
	__u64 target;         /* samples of a target thread */
	__u64 kernel_mode;    /* target samples that interrupted the kernel: no user access to decode */
	__u64 ringbuf_drops;  /* target samples lost: ring buffer full */
	__u64 stack_window_failed; /* samples whose rsp window could not be copied */
	__u64 bpf_ns;         /* the program's own run time on target samples (the sampler's budget) */
};

/* Tick mode (sample.bpf.c, on_tick), per CPU: the tick's last expiry and the shortest
 * step between two, which is the tick period (1/HZ: the tick timer is moved on by whole
 * periods, more than one after an idle stretch), for the agent to know the rate. */
struct tick_period {
	__s64 last_expires;
	__s64 min_step_ns;
	__u64 ticks;          /* 1 in 2^rate_level ticks is sampled */
};
