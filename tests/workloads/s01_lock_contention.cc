// Scenario 1 — lock contention turns a parallel map into a serial one.
//
// N threads count pseudo-random words from a fixed vocabulary.
//   bad:   every word is counted in one global map under one global mutex,
//          so the threads run one at a time and park on the futex.
//   fixed: each thread counts into its own map; the maps are merged once at
//          the end (the seed's "pre-aggregate per thread and merge once").
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "word_counting.h"

using namespace ccprof::workloads;

using WordCounts = std::unordered_map<std::string, int64_t>;

std::mutex g_table_mutex;
WordCounts g_word_counts;  // guarded by g_table_mutex
const std::vector<std::string> g_vocabulary = make_vocabulary();

// bad: one lock acquisition of the global table per word.
__attribute__((noinline)) void count_word_shared(const std::string& word) {
  std::lock_guard<std::mutex> lock(g_table_mutex);  // PROBLEM: every thread serializes on this one mutex, per word
  ++g_word_counts[word];
}

// fixed: count into the thread's own map, no lock at all.
__attribute__((noinline)) void count_word_local(WordCounts& local, const std::string& word) {
  ++local[word];  // FIX: per-thread map, merged once in merge_counts()
}

__attribute__((noinline)) void merge_counts(const WordCounts& local) {
  std::lock_guard<std::mutex> lock(g_table_mutex);  // FIX: one acquisition per thread, not per word
  for (const auto& [word, count] : local) g_word_counts[word] += count;
}

static int64_t count_words(const Options& options, int thread_index) {
  XorShift64 rng(thread_index + 1);
  WordCounts local;
  int64_t counted = 0;
  while (!stop_requested()) {
    for (int i = 0; i < 256; ++i) {
      const std::string& word = g_vocabulary[rng.next() % g_vocabulary.size()];
      if (options.bad())
        count_word_shared(word);
      else
        count_word_local(local, word);
    }
    counted += 256;
  }
  if (!options.bad()) merge_counts(local);
  return counted;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  CountingRun run = run_counting_threads(options, [&](int i) { return count_words(options, i); });
  const int64_t total = run.counted;
  int64_t in_table = 0;
  for (const auto& [word, count] : g_word_counts) in_table += count;
  std::printf("variant=%s threads=%d distinct_words=%zu counted=%lld consistent=%s\n",
              options.variant_name(), options.threads, g_word_counts.size(),
              static_cast<long long>(total), total == in_table ? "yes" : "no");
  print_throughput(static_cast<double>(total), "words", run.elapsed_s);
  return total == in_table ? 0 : 1;
}
