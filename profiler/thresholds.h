#pragma once
// Every threshold a rule uses, named, with the reason for its value. The fixed
// variants of the scenario workloads (SCENARIOS.md) are the false-positive check.
#include <cstdint>

namespace ccprof::profiler::thresholds {

// ---- locks (futex collector) -------------------------------------------------------

// A lock is "contended" when its waits cost at least this share of the waiting
// threads' time: below ~5% a lock is rarely the reason a program does not scale, and
// the fixed s01 (per-thread maps merged once) waits well under 1%.
inline constexpr double kLockContentionMinShare = 0.05;
// ...and at least this much absolute waiting, so a 50 ms profile with one unlucky
// wait does not raise a finding (the noise floor of scheduling on a busy machine).
inline constexpr double kLockContentionMinWaitS = 0.05;
// ...by at least this many distinct waiting threads: one thread waiting on one other
// is a handoff or a pipeline, not threads serialising on a shared lock.
inline constexpr int kLockContentionMinWaiters = 2;
// Waits on a futex whose stacks show a condition variable are idle/handoff time, not
// contention; a lock is taken as a mutex when at least this share of its sampled
// stacks pass through a mutex-lock function (or, without stacks, when the futex word
// was 2 = "locked, with waiters", glibc's contended-mutex value).
inline constexpr double kMutexStackShare = 0.5;
// An owner tid is trusted only when it is a thread of the target; besides, the share
// of waits with a valid owner must reach this to print "owners seen".
inline constexpr double kOwnerEvidenceMinShare = 0.2;

// Confidence of a lock finding: high when at least this many waits were seen and at
// least this many stacks agree on the call site.
inline constexpr uint64_t kHighConfidenceWaits = 100;
inline constexpr uint64_t kHighConfidenceStacks = 10;

}  // namespace ccprof::profiler::thresholds
