#include "profiler/lock_cpu_cost.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/syscalls.h"
#include "profiler/queue_rules.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {

namespace th = thresholds;

std::optional<LockCpuCost> lock_cpu_cost(const Index& index, uint32_t pid, const std::set<uint32_t>& tids,
                                         double min_lock_user_share) {
  const model::SchedSection* sched = index.sched();
  if (!sched || index.memory.period_s <= 0 || tids.empty()) return std::nullopt;
  LockCpuCost c;
  c.period_s = index.memory.period_s;
  struct Thread { double on_cpu_s = 0, futex_s = 0, other_s = 0; uint64_t samples = 0; };
  std::vector<Thread> rows;
  for (uint32_t tid : tids) {
    const model::SchedThread* t = sched->thread(tid);
    if (!t) return std::nullopt;  // a waiter the sched collector did not see: its CPU is unknown
    Thread row;
    row.on_cpu_s = t->on_cpu_ns / 1e9;
    for (int k = 0; k < model::kNumSyscallClasses; ++k)
      (k == static_cast<int>(model::SyscallClass::kFutex) ? row.futex_s : row.other_s) += t->syscall_ns[k] / 1e9;
    auto it = index.memory.thread_samples.find(tid);
    if (it != index.memory.thread_samples.end()) row.samples = it->second;
    c.on_cpu_s += row.on_cpu_s;
    c.futex_s += row.futex_s;
    c.other_syscall_s += row.other_s;
    c.samples += row.samples;
    rows.push_back(row);
  }
  if (c.samples < th::kGainMinSamples || c.on_cpu_s <= 0) return std::nullopt;
  // Samples the ring buffer dropped were user time the counts miss: counting them all as
  // these threads' keeps the kernel estimate from growing by what was lost. The counts'
  // error is the total's, shared out by each thread's count.
  auto drops = index.rec.losses.find("sampler.ringbuf_drops");
  uint64_t dropped = drops != index.rec.losses.end() ? drops->second : 0;
  double n = static_cast<double>(c.samples), sigma = th::kGainSampleSigmas * std::sqrt(n);
  double high_per_sample = (n + dropped + sigma) / n * c.period_s, low_per_sample = std::max(0.0, n - sigma) / n * c.period_s;
  // Per thread (one thread's sleeps must not hide another's futex time): low, only the
  // kernel time its other syscalls cannot explain; high, all of it; both at most its
  // futex syscalls' wall time (the lock's switches happen inside them).
  double kernel_low = 0, kernel_high = 0;
  for (const auto& r : rows) {
    kernel_low += std::clamp(r.on_cpu_s - r.samples * high_per_sample - r.other_s, 0.0, r.futex_s);
    kernel_high += std::clamp(r.on_cpu_s - r.samples * low_per_sample, 0.0, r.futex_s);
  }
  c.kernel_share_low = kernel_low / c.on_cpu_s;
  c.kernel_share_high = kernel_high / c.on_cpu_s;
  double user_high = n * high_per_sample;
  c.lock_user_share = std::max({0.0, min_lock_user_share, sync_sample_share(index, pid, tids)});
  c.user_share_high = std::min(1.0, c.lock_user_share * user_high / c.on_cpu_s);
  c.samples += dropped;
  return c;
}

nlohmann::json lock_cpu_cost_json(const LockCpuCost& c) {
  return {{"on_cpu_s", c.on_cpu_s},
          {"samples", c.samples},
          {"period_s", c.period_s},
          {"futex_s", c.futex_s},
          {"other_syscall_s", c.other_syscall_s},
          {"lock_user_share", c.lock_user_share},
          {"kernel_share_low", c.kernel_share_low},
          {"kernel_share_high", c.kernel_share_high},
          {"user_share_high", c.user_share_high}};
}

void add_lock_cpu_costs(const Index& index, std::vector<Finding>& findings) {
  for (auto& f : findings) {
    auto lock = f.evidence.find("lock");
    if (lock == f.evidence.end() || !lock->is_object()) continue;
    auto pid = lock->find("pid");
    auto waiters = lock->find("waiters");
    if (pid == lock->end() || !pid->is_number_unsigned() || waiters == lock->end() || !waiters->is_array()) continue;
    std::set<uint32_t> tids;
    for (const auto& w : *waiters)
      if (w.is_object() && w.contains("tid") && w["tid"].is_number_unsigned()) tids.insert(w["tid"].get<uint32_t>());
    // A library's internal lock (lock_table.h): the library's code is the lock code,
    // whatever its functions are called (glibc's names are all sync_sample_share knows).
    double library_share = 0;
    auto in = lock->find("library_internal");
    if (in != lock->end() && in->is_object()) {
      const double of = in->value("cpu_samples", 0.0), n = in->value("cpu_samples_in_library", 0.0);
      if (of > 0) library_share = n / of;
    }
    auto c = lock_cpu_cost(index, pid->get<uint32_t>(), tids, library_share);
    if (!c) continue;
    f.evidence["lock_cpu_cost"] = lock_cpu_cost_json(*c);
  }
}

}  // namespace ccprof::profiler
