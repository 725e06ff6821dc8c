// Scenario 1 with oneTBB's spinning lock — tbb::spin_mutex serialises a parallel map.
//
// N threads count pseudo-random words from a fixed vocabulary; each update also does
// the per-entry work real code does under the lock (word_counting.h, DigestTable).
//   bad:   every word is counted in one global table under one tbb::spin_mutex. It never
//          sleeps: a waiter spins on the flag with pause, then calls sched_yield() after 16
//          pauses, in tbb::spin_mutex::lock (oneTBB's header), so no futex names it: its
//          inlined exchange of g_table's static address does (profiler/lock_code.h).
//   fixed: the table is sharded 64 ways, each shard with its own tbb::spin_mutex.
// A matrix case (LIBRARY_WORKLOADS); tests/workloads/README.md.
#include <oneapi/tbb/spin_mutex.h>

#include "word_counting.h"

using namespace ccprof::workloads;

using Table = DigestTable<tbb::spin_mutex>;

Table g_table;
Table g_shards[64];

// bad: one acquisition of the one global lock per word.
__attribute__((noinline)) void count_word_shared(const std::string& word) {
  tbb::spin_mutex::scoped_lock lock(g_table.mu);  // PROBLEM: every thread serializes on this one spin_mutex, per word
  g_table.record(word);
}

// fixed: the word's shard only.
__attribute__((noinline)) void count_word_sharded(const std::string& word, size_t hash) {
  Table& s = g_shards[hash % 64];
  tbb::spin_mutex::scoped_lock lock(s.mu);  // FIX: 64 locks, a thread rarely waits for another
  s.record(word);
}

// 6 threads, as s01-tbb-mutex.
int main(int argc, char** argv) {
  return run_digest_word_count(argc, argv, 6, g_table, g_shards, count_word_shared, count_word_sharded);
}
