#pragma once
// How often each mutex is taken (not only when contended), from the lockrate
// collector's uprobe windows (Recording::lockrate).
#include <cstdint>
#include <set>
#include <vector>

#include "profiler/model_names.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

class Index;

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
std::vector<LockRate> build_lock_rates(const Index& index);

}  // namespace ccprof::profiler
