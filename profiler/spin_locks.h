#pragma once
// Spin locks the program wrote itself (`while (flag.test_and_set(acquire)) pause;`, a CAS
// loop on a word, `flag.clear(release)` to unlock) never sleep and never yield: no futex
// wait and no sched_yield() names them, and their retried exchanges looked like a hot
// counter (hot-atomic, with a remedy to shard a counter: wrong). The memory sampler sees
// their acquiring code: a word the program exchanges whose code (lock_code.h:
// spin_lock_section) takes it, retries the taking in a loop and releases it with code
// between is a lock. A thread sampled in the acquisition loop spins for it: each such
// sample is one sampling period of CPU time spent waiting (decode mode, where a sample
// stands for a known period); a thread sampled inside the section holds it. A row is
// made for each such lock, and lock contention is judged on it as on any lock's.
// Limits: the word must be a static address in the acquiring function's code (a global
// lock, with its lock() inlined), or the lock() out of line and named like a lock
// function (-O0: the word comes in `this`; charged to a word only as spin_loop_word
// says). An inlined lock in a heap object is not recognised, and its exchanges stay the
// cache-line rules' to judge.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "profiler/lock_code.h"

namespace ccprof::profiler {

class Index;
struct LockInfo;

// Whether a function is a lock's acquisition by its name (SpinLock::lock, acquire(),
// spin_lock, lockExclusive; not block(), clock(), unlock()).
bool looks_like_lock_function(std::string name);

// An out-of-line lock function's acquisition loop (-O0's SpinLock::lock(), its word in
// `this`): the word its spinning is charged to, from the loop's sampled accesses that
// carried an address (word -> how many). Few samples carry one (at -O0 most land after
// the pause, on the reload of `this`), so the loop is charged only when at least
// kMinSpinLoopAddresses name one word and none names another; otherwise `word` is 0 and
// `loss` names the loss counter its samples go to (spinning over words picked at run
// time, a sharded table's, is never charged to the one or two shards seen).
inline constexpr size_t kMinSpinLoopAddresses = 3;
struct SpinLoopWord {
  uint64_t word = 0;
  const char* loss = nullptr;
};
SpinLoopWord spin_loop_word(const std::map<uint64_t, size_t>& addresses_per_word);

// Per thread, the memory samples of process `pid` inside the sections (the lock held)
// and in their acquisition loops (spinning for it).
struct SpinSamples {
  std::map<uint32_t, uint64_t> held, spinning;
};
SpinSamples count_spin_samples(const Index& idx, uint32_t pid, const std::vector<SpinSection>& sections);

// Adds a lock row for each program spin lock found (above) that has no row yet, sorts
// the lock table again and returns how many rows it added.
int add_program_spin_locks(Index& idx);

}  // namespace ccprof::profiler
