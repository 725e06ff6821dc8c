// Scenario 1 with the program's own spin lock — a hand-written test-and-test-and-set lock
// on std::atomic_flag, as real code writes one, serialises a parallel map.
//
// N threads count pseudo-random words from a fixed vocabulary; each update also does
// the per-entry work real code does under the lock (word_counting.h, DigestTable).
//   bad:   every word is counted in one global table under one SpinLock. It never sleeps
//          and never yields: no futex and no sched_yield() names it. Its inlined lock()
//          exchanges g_table's static address, retries in a loop and releases with a
//          store: the memory sampler's samples in that loop are its waiting
//          (profiler/spin_locks.h), not a hot counter.
//   fixed: the table is sharded 64 ways, each shard with its own SpinLock.
// A matrix case (LIBRARY_WORKLOADS); tests/workloads/README.md.
#include <atomic>

#include "word_counting.h"

using namespace ccprof::workloads;

// The usual hand-written spin lock: spin on a plain load, pause, then retry the exchange.
class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire))
      while (flag_.test(std::memory_order_relaxed)) __builtin_ia32_pause();
  }
  void unlock() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

using Table = DigestTable<SpinLock>;

Table g_table;
Table g_shards[64];

// bad: one acquisition of the one global lock per word.
__attribute__((noinline)) void count_word_shared(const std::string& word) {
  g_table.mu.lock();  // PROBLEM: every thread serializes on this one spin lock, per word
  g_table.record(word);
  g_table.mu.unlock();
}

// fixed: the word's shard only.
__attribute__((noinline)) void count_word_sharded(const std::string& word, size_t hash) {
  Table& s = g_shards[hash % 64];
  s.mu.lock();  // FIX: 64 locks, a thread rarely waits for another
  s.record(word);
  s.mu.unlock();
}

// 4 threads on the 2-CPU VM, as s01.
int main(int argc, char** argv) {
  return run_digest_word_count(argc, argv, 4, g_table, g_shards, count_word_shared, count_word_sharded);
}
