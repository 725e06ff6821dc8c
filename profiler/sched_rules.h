#pragma once
// Rules over the sched collector's section (model/sections.h) and the futex waits'
// owner syscalls: lock-held-across-io (13), pool-saturated-io (5), oversubscription,
// thread-churn (8), unbounded-queue (10). They are in sched_rule_family()
// (profiler/rule.h) and raise nothing when the sched collector did not run.

namespace ccprof::profiler {

// Little's law pool size: cores x target utilisation x (1 + wait / compute).
double littles_law_pool_size(double cores, double target_utilization, double wait_s, double compute_s);

}  // namespace ccprof::profiler
