// Scenario 1 with Abseil's lock — absl::Mutex serialises a parallel map.
//
// N threads count pseudo-random words from a fixed vocabulary.
//   bad:   every word is counted in one global map under one absl::Mutex. A waiter
//          spins in absl::Mutex::Lock, then sleeps on its own per-thread semaphore
//          (not on the mutex word), so ccprof must charge those waits to g_table_mu.
//   fixed: the map is sharded 64 ways, each shard with its own absl::Mutex (the
//          seed's "striped map"): two threads rarely want the same shard.
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl_deadlock_detection.h"
#include "common.h"
#include "word_counting.h"

using namespace ccprof::workloads;

using WordCounts = std::unordered_map<std::string, int64_t>;

absl::Mutex g_table_mu;
WordCounts g_word_counts;  // guarded by g_table_mu

constexpr size_t kShards = 64;
struct alignas(64) Shard {
  absl::Mutex mu;
  WordCounts counts;  // guarded by mu
};
Shard g_shards[kShards];

const std::vector<std::string> g_vocabulary = make_vocabulary();

// bad: one acquisition of the one global lock per word.
__attribute__((noinline)) void count_word_shared(const std::string& word) {
  absl::MutexLock lock(&g_table_mu);  // PROBLEM: every thread serializes on this one absl::Mutex, per word
  ++g_word_counts[word];
}

// fixed: the word's shard only.
__attribute__((noinline)) void count_word_sharded(const std::string& word, size_t hash) {
  Shard& s = g_shards[hash % kShards];
  absl::MutexLock lock(&s.mu);  // FIX: 64 locks, a thread rarely waits for another
  ++s.counts[word];
}

static int64_t count_words(const Options& options, int thread_index) {
  XorShift64 rng(thread_index + 1);
  int64_t counted = 0;
  while (!stop_requested()) {
    for (int i = 0; i < 256; ++i) {
      const size_t w = rng.next() % g_vocabulary.size();
      if (options.bad())
        count_word_shared(g_vocabulary[w]);
      else
        count_word_sharded(g_vocabulary[w], w);
    }
    counted += 256;
  }
  return counted;
}

int main(int argc, char** argv) {
  apply_absl_deadlock_detection(argc, argv);  // off, as in a release (NDEBUG) Abseil
  Options options = parse_options(argc, argv, 4);
  CountingRun run = run_counting_threads(options, [&](int i) { return count_words(options, i); });
  const int64_t total = run.counted;
  int64_t in_table = 0;
  for (const auto& [word, count] : g_word_counts) in_table += count;
  for (const auto& s : g_shards)
    for (const auto& [word, count] : s.counts) in_table += count;
  std::printf("variant=%s threads=%d counted=%lld consistent=%s\n", options.variant_name(), options.threads,
              static_cast<long long>(total), total == in_table ? "yes" : "no");
  print_throughput(static_cast<double>(total), "words", run.elapsed_s);
  return total == in_table ? 0 : 1;
}
