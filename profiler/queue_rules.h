#pragma once
// Rules about queues between threads: per-item-synchronization (scenario 7, batch)
// and handoff-stall (scenario 14, buffer-queue).
#include <vector>

#include "profiler/analysis.h"
#include "profiler/lock_rates.h"
#include "profiler/lock_table.h"

namespace ccprof::profiler {

std::vector<Finding> queue_rules(AnalysisContext& ctx, const std::vector<LockInfo>& locks,
                                 const std::vector<LockRate>& rates);

// Share of the CPU samples of `tids` (from the memory sampler's registers) whose
// instruction is in lock/condvar code; -1 when there are no samples of them.
double sync_sample_share(AnalysisContext& ctx, uint32_t pid, const std::set<uint32_t>& tids);

}  // namespace ccprof::profiler
