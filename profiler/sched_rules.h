#pragma once
// Rules over the sched collector's section (profiler/sched_data.h) and the futex
// waits' owner syscalls:
//   lock-held-across-io (13), pool-saturated-io (5), oversubscription,
//   thread-churn (8), unbounded-queue (10).
#include <vector>

#include "profiler/analysis.h"
#include "profiler/finding.h"
#include "profiler/lock_table.h"

namespace ccprof::profiler {

// Returns no findings when the recording has no sched section (collector off); a
// malformed section is counted in ctx.losses ("sched.section_malformed").
// Also fills ctx.thread_extra (on_cpu_s, io_s, runnable_s, ...) and ctx.tables["rss"].
std::vector<Finding> sched_rules(AnalysisContext& ctx, const std::vector<LockInfo>& locks);

}  // namespace ccprof::profiler
