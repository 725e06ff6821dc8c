#pragma once
// The CPU a contended lock costs the threads that wait for it, besides the waiting
// itself: on an idle machine a contended mutex is mostly futex syscalls and the context
// switches they cause (kernel time), and the lock library's own loads and locked RMWs on
// a line that moves between CPUs (user time). The wait share does not count either; the
// predicted gain (profiler/predicted_gain.cc) does, from what this profile measured:
//   on-CPU time      the sched collector's per-thread on_cpu_ns;
//   user time        the memory sampler's samples (cpu-clock, user mode only, one
//                    period of a thread's CPU each) x the period;
//   kernel time      on-CPU - user; of it, what the other syscalls' wall time cannot
//                    explain and the futex syscalls' wall time can, is the lock's;
//   lock user time   the samples in lock/condvar code (sync_sample_share) x the period.
// The sample counts carry a Poisson error: the low end uses the larger user estimate
// and the high end the smaller (kGainSampleSigmas).
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/finding.h"
#include "profiler/index.h"

namespace ccprof::profiler {

struct LockCpuCost {
  double on_cpu_s = 0;          // the threads' time on CPU
  uint64_t samples = 0;         // their user-mode samples (and the sampler's drops, counted as user)
  double period_s = 0;          // CPU seconds per sample
  double futex_s = 0;           // wall time in futex syscalls
  double other_syscall_s = 0;   // wall time in every other syscall (a bound of their kernel CPU)
  double lock_user_share = 0;   // of the samples, in lock/condvar code
  double kernel_share_low = 0;  // the lock's kernel CPU / on-CPU, low and high estimates
  double kernel_share_high = 0;
  double user_share_high = 0;   // the lock library's user CPU / on-CPU, high estimate
};

// The cost over `tids` of process `pid`; nullopt when the profile cannot say (no sched
// collector, no decode-mode sampler, no time on CPU, or too few samples to read a share).
// `min_lock_user_share`: a floor for the lock code's share of the samples, where the
// lock is a library's internal one and all that library's code counts (lock_table.h).
std::optional<LockCpuCost> lock_cpu_cost(const Index& index, uint32_t pid, const std::set<uint32_t>& tids,
                                         double min_lock_user_share = 0);

nlohmann::json lock_cpu_cost_json(const LockCpuCost& c);

// Adds evidence.lock_cpu_cost to each finding whose evidence.lock names its waiters
// (the lock kinds), for the predicted gain; findings without one are left as they are.
void add_lock_cpu_costs(const Index& index, std::vector<Finding>& findings);

}  // namespace ccprof::profiler
