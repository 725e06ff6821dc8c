#pragma once
#include <memory>

#include "agent/collector.h"

namespace ccprof::agent {

struct LockRateOptions {
  uint32_t target_pid = 0;          // the process whose libc gets the uprobe
  uint64_t first_window_ns = 300'000'000;  // after the target started (libc is mapped by then)
  uint64_t window_ns = 20'000'000;         // how long the uprobe stays attached
  uint64_t period_ns = 2'000'000'000;      // one window per period: at most 1% of the time trapped
};

// Counts pthread_mutex_lock calls per (thread, mutex, caller) in short uprobe windows;
// writes rec.lockrate.
std::unique_ptr<Collector> make_lockrate_collector(const LockRateOptions& opts);

}  // namespace ccprof::agent
