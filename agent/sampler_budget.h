#pragma once
// The decode-mode memory sampler's CPU budget: what a second of sampling cost, and
// whether to halve the rate.
//
// A sample costs the machine three things: the interrupt that takes it (a timer of
// ccprof's own; a VM exit in a VM; nothing of ccprof's own on the scheduler tick), the
// BPF program (measured by the program itself, bpf/sample.bpf.c), and the agent's work
// on it on the drain thread (measured with the thread's CPU clock: draining, trimming
// its stack windows, agent/stack_reduction.h). The interrupt cannot be measured from
// inside the guest: it is an estimate per firing (kInterruptNsVm on a hypervisor,
// kInterruptNsMetal otherwise), counted on every firing, the target's or not.
//
// The sampler's share is that cost over all CPUs' time. Over its budget two seconds in
// a row (one second can hold a one-off: the agent reading a module's DWARF), or with the
// drain thread busy more than half the time (it would fall behind and drop), the rate
// is halved, at most down to kMinSampleHz. Within one window the rate only goes down;
// at the window's end its samples are thinned to the lowest rate it used
// (thin_to_level), so that every sample of a window stands for the same CPU time and
// every count-based rule stays exact. Between windows (`ccprof serve`) a sampler far
// under its budget doubles again, up to the rate asked for.
#include <cstdint>
#include <string>
#include <vector>

namespace ccprof::agent {

// Measured on the 2-vCPU KVM CI guest (bench/sampler_rate.py, cpu-bound, whose samples
// cost the agent ~2 us): ~12.6 us of the target's CPU per timer sample in all, ~1 us of
// it the BPF program. Bare metal: an order less (a local APIC timer interrupt).
inline constexpr double kInterruptNsVm = 10'000;
inline constexpr double kInterruptNsMetal = 1'500;
inline constexpr uint32_t kMinSampleHz = 25;
inline constexpr double kDefaultSamplerBudget = 0.015;     // 1.5% of all CPUs (default mode)
inline constexpr double kContinuousSamplerBudget = 0.005;  // 0.5% (--mode continuous)
inline constexpr double kDrainThreadLimit = 0.5;           // of one CPU

// What one interval of sampling cost.
struct SamplerCost {
  double interval_s = 0;
  uint32_t cpus = 1;
  uint64_t fires = 0;    // times the program ran (timer firings or ticks on busy CPUs)
  uint64_t samples = 0;  // target samples sent
  double bpf_s = 0;      // measured: the program's run time
  double agent_s = 0;    // measured: the drain thread's CPU on samples
  double interrupt_ns = 0;  // estimate per firing; 0 when the interrupt is not ccprof's (tick)

  double interrupt_s() const { return fires * interrupt_ns / 1e9; }
  double total_s() const { return interrupt_s() + bpf_s + agent_s; }
  // Of all CPUs' time over the interval.
  double share() const { return interval_s > 0 && cpus ? total_s() / (interval_s * cpus) : 0; }
  double drain_share() const { return interval_s > 0 ? agent_s / interval_s : 0; }
};

// "" when within budget, else why to lower the rate ("over budget", "drain thread busy").
std::string over_budget(const SamplerCost& c, double budget);

// How many halvings of `hz` stay at or above kMinSampleHz.
uint32_t max_rate_level(uint32_t hz);

// Estimated interrupt cost per timer firing on this machine (/proc/cpuinfo's
// "hypervisor" flag chooses between the two constants above).
double timer_interrupt_ns_estimate();

// The samples of one window, taken at levels[i] (rate = asked / 2^level) on cpus[i],
// thinned to `to` (>= every level): per CPU and level, every 2^(to - level)-th sample
// is kept, in order. Returns keep[i].
std::vector<bool> thin_to_level(const std::vector<uint8_t>& levels, const std::vector<uint32_t>& cpus, uint8_t to);

}  // namespace ccprof::agent
