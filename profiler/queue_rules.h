#pragma once
// Rules about queues between threads: per-item-synchronization (scenario 7, batch)
// and handoff-stall (scenario 14, buffer-queue).
#include <vector>

#include <set>

#include "profiler/index.h"

namespace ccprof::profiler {

// The rules are in queue_rule_family() (profiler/rule.h).

// Share of the CPU samples of `tids` (from the memory sampler's registers) whose
// instruction is in lock/condvar code; -1 when there are no samples of them.
double sync_sample_share(const Index& ctx, uint32_t pid, const std::set<uint32_t>& tids);

}  // namespace ccprof::profiler
