#pragma once
// Rules about queues between threads: per-item-synchronization (scenario 7, batch)
// and handoff-stall (scenario 14, buffer-queue).
#include <vector>

#include <functional>
#include <set>

#include "profiler/index.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

// The rules are in queue_rule_family() (profiler/rule.h).

// Share of the CPU samples of `tids` (from the memory sampler's registers) whose
// instruction is in lock/condvar code; -1 when there are no samples of them.
double sync_sample_share(const Index& ctx, uint32_t pid, const std::set<uint32_t>& tids);

// Share of the CPU samples of `tids` whose decoded data access is on a cache line that at
// least two of `tids` accessed and one of them wrote (in the cache-line table: a line that
// moves between their CPUs), outside the functions `excluded` names (lock code, a CAS
// loop: counted elsewhere); -1 when there are no samples of them. A line seen by one
// thread only (few samples on it) is not counted: this share reads low, never high.
double shared_line_sample_share(const Index& ctx, uint32_t pid, const std::set<uint32_t>& tids,
                                const std::function<bool(const CodeLocation&)>& excluded);
// handoff-stall's decisive test: the producer made `calls` lock calls (its items) in the
// lock-rate windows, and `kept` of its waits that began there were kept, 1 in `keep_every`.
// Its waits per item show a buffer (most items handed over without blocking) only when
// they are under kHandoffMinWaitsPerItem by more than their sampling error: a few waits
// prove nothing either way, and the pair's other tests decide.
bool handoff_buffer_shown(uint64_t kept, uint64_t keep_every, uint64_t calls);
// is_sync_function on a location and its inline chain (lock and condvar code).
bool in_sync_code(const CodeLocation& loc);

}  // namespace ccprof::profiler
