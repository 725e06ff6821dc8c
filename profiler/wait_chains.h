#pragma once
// The wait-for graph: when a thread waits for a mutex whose owner is itself waiting
// (for another mutex, or in a blocking syscall), the chain is followed to its root and
// the wait is charged to the root: the thread that was actually running, or the
// syscall it was blocked in. From the recorded futex waits (each names the owner at
// its start and what the owner was doing); no new collection.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {

class Index;

struct WaitChain {
  uint32_t pid = 0;
  std::vector<uint64_t> locks;      // waited-for mutexes, the waiter's first
  std::vector<std::string> names;   // their display names
  // What the last owner was doing: "running" (it held the last lock and ran), "syscall"
  // (blocked in one: root_what names it), "lock" (waiting for a mutex whose owner is
  // unknown), "cycle" (the chain came back to a thread in it: a deadlock while it lasted).
  std::string root_kind;
  std::string root_what;
  CodeLocation root_site;  // the syscall's call site, or where the last lock is held
  bool has_root_site = false;
  uint64_t waits = 0;      // waits charged (scaled to the kernel's totals when sampled)
  double wait_s = 0;
};

// Chains by total waiting time, descending. Only waits on mutexes with a known owner.
std::vector<WaitChain> build_wait_chains(const Index& index);
// For a finding about one mutex: the chains through which waiting for it ended at
// another thread's root (depth >= 2) when they carry at least
// thresholds::kWaitChainMentionShare of the waits for it; a sentence for the explanation
// ("" when none) and their rows in `rows`.
std::string chains_behind_lock(const Index& index, uint32_t pid, uint64_t lock, nlohmann::json* rows);
// The report table: at most `limit` rows.
nlohmann::json wait_chains_table(const Index& index, size_t limit = 20);

}  // namespace ccprof::profiler
