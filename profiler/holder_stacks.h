#pragma once
// The holders' flame graph: for a bounded sample of critical sections per mutex
// (Recording::lockhold.samples, bpf/lockrate.h) the holder's stack was copied at the
// acquisition; each sampled hold's time is charged to that stack, so the report can show
// which code paths held a lock, and for how long, next to the stacks that waited for it.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/finding.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

class Index;

struct HolderStack {
  std::vector<std::string> frames;  // root first (tables.h frame_names_root_first)
  CodeLocation leaf;                // the leaf-most user frame (function "" when none)
  double hold_s = 0;                // sampled hold time charged to this stack
  uint64_t holds = 0;
};

struct LockHolders {
  uint32_t pid = 0;
  uint64_t lock = 0;
  uint64_t sampled_holds = 0;   // samples with an unwound stack
  double sampled_s = 0;         // their hold time
  std::vector<HolderStack> stacks;  // by hold_s, descending
};

// The sampled holds of one mutex, aggregated by identical stacks; empty (no stacks)
// when none was sampled.
LockHolders lock_holders(const Index& index, uint32_t pid, uint64_t lock);

// tables.holder_stacks: [{lock, frames (root first), hold_s, count}] for every mutex.
nlohmann::json holder_stacks_table(const Index& index);

// evidence.hold.holders in a finding about the lock, and one sentence when the top
// holding stack's leaf-most user frame is not the top acquiring call site already named
// (a wrapper in the program that every caller goes through, say). `top_site`: the
// acquiring call site the hold text names (nullptr when none).
void add_holder_evidence(Finding& f, const Index& index, uint32_t pid, uint64_t lock, const CodeLocation* top_site);

}  // namespace ccprof::profiler
