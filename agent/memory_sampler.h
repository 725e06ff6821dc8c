#pragma once
// The memory-access sampler collector, two modes behind one interface:
//  - decode: PERF_COUNT_SW_CPU_CLOCK on every online CPU (or, with clock "tick", the
//    scheduler's tick) with a BPF program that keeps the target's user-mode samples
//    (registers + fsbase); the analysis decodes the instruction before each sampled IP
//    (profiler/decode_access.h).
//  - pmu: precise memory samples (Intel PEBS load latency + stores, AMD IBS op)
//    with PERF_SAMPLE_ADDR | DATA_SRC | IP | TID | TIME | WEIGHT, events from libpfm4.
// Both fill Recording::memory_samples; rec.memory_sampler says how.
#include <cstdint>
#include <memory>
#include <string>

#include "agent/capabilities.h"
#include "agent/collector.h"
#include "agent/sampler_budget.h"

namespace ccprof::agent {

// Default sampling rates per CPU. Decode mode samples on a timer (cpu-clock): each
// sample is a timer interrupt on the target's CPU, and decode mode is what runs where
// there is no PMU, i.e. in VMs, where each interrupt is a VM exit. Measured on the
// 2-vCPU CI VM (bench/cpu-bound, 2 threads, 4 rounds, against --sampler off): 4999 Hz
// cost 11.6% of the CPUs, ~23 us per sample (the BPF program is ~1 us of it; the tick
// clock below, with no interrupt of ccprof's own, showed that most of the rest is the
// agent's own work per sample, not the interrupt), so 997 Hz cost ~2.3% and 499 Hz
// ~1.1%. At 499 Hz the scenario and
// build-variant matrices still pass (2 s runs). PMU mode's samples are counter
// overflows on bare metal, an order cheaper: 997 Hz there. Odd rates avoid lock-step
// with periodic work on 1 ms / 10 ms ticks.
//
// --sampler-clock tick samples on the scheduler's own tick instead (bpf/sample.bpf.c,
// on_tick): the tick interrupts every busy CPU HZ times a second anyway, so there is no
// interrupt of ccprof's own. Its rate is the kernel's HZ (250 on Debian), read from the
// tick itself. Not the default: measured (bench/sampler_rate.py, 2 runs) it cost the
// target 0.8-1.7% against the 499 Hz timer's 1.5-2.2%, not reliably less (most of a
// sample's cost is the agent's own work per sample), and at 250 Hz the corpus test
// missed false sharing in 3 of its 20 bad builds. One bias the timer has not: a thread
// that wakes on a tick and sleeps again before the next one is never sampled.
inline constexpr uint32_t kDefaultMemorySampleHz = 499;  // decode mode, on a timer
inline constexpr uint32_t kDefaultPmuSampleHz = 997;
inline constexpr uint32_t kCommonTickHz = 250;  // until the tick's own period is read

struct MemorySamplerOptions {
  std::string mode = "auto";  // auto | decode | pmu | off
  uint32_t frequency_hz = 0;  // samples per second per CPU on a timer; 0 = the mode's default
  // Decode mode's clock: "timer" (cpu-clock at frequency_hz) or "tick" (the scheduler's
  // tick at the kernel's HZ, where it can be used; the timer otherwise).
  std::string clock = "timer";
  uint32_t ring_bytes = 8u << 20;  // decode mode's BPF ring buffer (power of two)
  // Decode mode: the sampler's CPU budget, a share of all CPUs (agent/sampler_budget.h);
  // over it the rate is halved. 0 = no budget (the drain thread's limit still holds).
  double budget = kDefaultSamplerBudget;
};

// The scheduler tick's hrtimer handler (tick_nohz_handler since Linux 6.9,
// tick_sched_timer before), from /proc/kallsyms; 0 when it is not there or its
// addresses are hidden (kptr_restrict: all zero for this reader).
uint64_t sched_tick_handler_address();

// Resolves opts.mode against the machine: "decode", "pmu" or "off", with the reason.
// `caps` may come from probe_capabilities() (done once by the caller) or be null
// (then only what the choice needs is probed).
std::string resolve_memory_sampler_mode(const MemorySamplerOptions& opts, const Capabilities* caps,
                                        std::string* reason);

// The collector for a resolved mode ("decode" or "pmu"; "auto" is resolved inside).
// Its finish() fills rec.memory_sampler
// ({mode, frequency_hz, period_ns, events}); every drop is counted in rec.losses as
// "sampler.*". When PMU mode fails to start under "auto", it falls back to decode.
std::unique_ptr<Collector> make_memory_sampler(const MemorySamplerOptions& opts);

}  // namespace ccprof::agent
