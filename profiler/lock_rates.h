#pragma once
// How often each mutex is taken (not only when contended), from the lockrate
// collector's uprobe windows (rec.sections["lockrate"]).
#include <cstdint>
#include <set>
#include <vector>

#include "profiler/analysis.h"

namespace ccprof::profiler {

struct LockRateSite {
  CodeLocation loc;  // the caller of pthread_mutex_lock
  uint64_t calls = 0;
  double per_s = 0;
  std::set<uint32_t> tids;
};

struct LockRate {
  uint32_t pid = 0;
  uint64_t lock = 0;
  uint64_t calls = 0;
  double per_s = 0;     // lower bound: each call trapped into the uprobe while it was counted
  double window_s = 0;  // how long the uprobe was attached in all
  std::set<uint32_t> tids;
  std::vector<LockRateSite> sites;  // by calls, descending
};

// Empty when the collector did not run or never opened a window.
std::vector<LockRate> build_lock_rates(AnalysisContext& ctx);

// The [start, end) CLOCK_MONOTONIC intervals in which the lockrate uprobe counted.
std::vector<std::pair<uint64_t, uint64_t>> lock_rate_windows(const Recording& rec);

}  // namespace ccprof::profiler
