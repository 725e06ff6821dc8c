// Scenario 1 with the lock in a heap object — a std::mutex member of a `new Table`.
//
// N threads count pseudo-random words from a fixed vocabulary (word_counting.h,
// DigestTable): the lock has no symbol, so ccprof names it by the type its lock call's
// argument points to (DWARF: `t`, a DigestTable<std::mutex>*), not "the heap lock at 0x...".
//   bad:   every word is counted in one heap table under its one std::mutex.
//   fixed: 64 heap tables, each with its own std::mutex.
// Not a matrix case (scenario 1 is s01-lock-contention); tests/e2e/lock_libraries_test.py.
#include <mutex>

#include "word_counting.h"

using namespace ccprof::workloads;

using Table = DigestTable<std::mutex>;

Table* g_table_ptr = new Table;
Table (*g_shards)[64] = new Table[1][64];

// bad: one acquisition of the one heap table's lock per word.
__attribute__((noinline)) void count_word_shared(const std::string& word) {
  Table* t = g_table_ptr;
  std::lock_guard<std::mutex> lock(t->mu);  // PROBLEM: every thread serializes on this one heap table's mutex
  t->record(word);
}

// fixed: the word's shard only.
__attribute__((noinline)) void count_word_sharded(const std::string& word, size_t hash) {
  Table* t = &(*g_shards)[hash % 64];
  std::lock_guard<std::mutex> lock(t->mu);  // FIX: 64 locks, a thread rarely waits for another
  t->record(word);
}

// 4 threads, as s01-lock-contention.
int main(int argc, char** argv) {
  return run_digest_word_count(argc, argv, 4, *g_table_ptr, *g_shards, count_word_shared, count_word_sharded);
}
