#pragma once
#include <memory>

#include "agent/collector.h"

namespace ccprof::agent {

struct LockRateOptions {
  uint32_t target_pid = 0;          // the process whose libc gets the uprobe
  uint64_t first_window_ns = 300'000'000;  // after the target started (libc is mapped by then)
  uint64_t window_ns = 20'000'000;         // how long the uprobe stays attached
  uint64_t period_ns = 2'000'000'000;      // one window per period: at most 1% of the time trapped
  // Critical sections (7 more uprobes, bpf/lockrate.bpf.c) are timed in the first window
  // and every hold_every-th after it: detaching them costs ~120 ms of trapping each.
  uint64_t hold_every = 4;
};

// Counts pthread_mutex_lock calls per (thread, mutex, caller) in short uprobe windows;
// writes rec.lockrate.
std::unique_ptr<Collector> make_lockrate_collector(const LockRateOptions& opts);

}  // namespace ccprof::agent
