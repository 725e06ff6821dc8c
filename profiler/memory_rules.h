#pragma once
// Rules on the memory-access samples: false-sharing (scenario 3), hot-atomic (12),
// cas-retry-storm (11) from the cache-line table; read-mostly-lock (2) and
// lock-for-single-word (4) from the sampled accesses inside the functions that take
// a contended lock.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "profiler/cacheline_table.h"
#include "profiler/critical_section.h"
#include "profiler/index.h"
#include "profiler/lock_rules.h"

namespace ccprof::profiler {

// The rules are in memory_rule_family() (profiler/rule.h); the accesses they read are
// decoded by the index (profiler/index.cc).

// What the rules need besides the accesses (a seam for tests).
struct MemoryRuleEnv {
  std::function<CodeLocation(uint32_t pid, uint64_t ip)> code;
  std::function<std::string(uint32_t pid, uint64_t addr)> data_name;  // "g_counters[3]"
  std::function<std::string(uint32_t pid, uint64_t addr)> region;     // "global", "heap", ...
  // Whether an address is program data that threads can share (writable, not in a
  // system library's data); reads of constants and GOT entries are not.
  std::function<bool(uint32_t pid, uint64_t addr)> shared_data;
  std::function<std::string(uint32_t tid)> comm;
  std::map<uint32_t, uint64_t> thread_samples;  // every sample per thread (with an address or not)
  double period_s = 0;                          // CPU seconds per sample (decode mode); 0 = unknown
  std::map<uint32_t, double> thread_lifetime_s; // for the cost when period_s is unknown (PMU mode)
  double total_thread_s = 0;
  std::set<std::pair<uint32_t, uint64_t>> lock_words;  // futex words: locks, not hot atomics
  const ThreadTable* threads = nullptr;                 // names in the locks' evidence rows
  // Whether the critical section that starts at a lock call's return address does all its
  // work in the function that takes the lock (critical_section.h); unset in tests and
  // where the code cannot be read: then the samples alone decide.
  std::function<SectionExtent(uint32_t pid, uint64_t after_lock_call, uint64_t lock_word)> section_extent;
  // Adds a lock's measured critical sections to a finding about it (lock_holds.h); unset in tests.
  std::function<void(Finding&, uint32_t pid, uint64_t lock)> add_hold;
  // The Python lines (CPython 3.11) that ran the sampled accesses to some offsets of a
  // line (python_reads.h), listed before the interpreter's instructions; unset in tests
  // and empty outside Python.
  std::function<std::vector<SourceLocation>(uint32_t pid, uint64_t line, const std::set<uint32_t>& offsets)>
      python_sites;
  double cost_share(double thread_s) const {
    return total_thread_s > 0 ? std::clamp(thread_s / total_thread_s, 0.0, 1.0) : 0;
  }
};

// The environment of a real profile, from its index.
MemoryRuleEnv memory_rule_env(const Index& index);

std::vector<Finding> cacheline_findings(const CacheLineTable& table, const MemoryRuleEnv& env);
std::vector<Finding> lock_access_findings(const std::vector<MemoryAccess>& accesses,
                                          const std::vector<ContendedLock>& locks, const MemoryRuleEnv& env);
// evidence.cache_line of docs/findings-schema.md
nlohmann::json cache_line_json(const CacheLine& line, const MemoryRuleEnv& env);

}  // namespace ccprof::profiler
