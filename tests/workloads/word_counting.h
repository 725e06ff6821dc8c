// Scenario 1's vocabulary and its counting threads: shared by the workloads that write
// scenario 1 with each lock library (s01_lock_contention.cc with std::mutex,
// s01_absl_mutex.cc with absl::Mutex). Each workload supplies its own counting loop,
// where its lock is taken.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace ccprof::workloads {

// 512 distinct pseudo-words ("ka", "lo", ..., "kalo", ...).
inline std::vector<std::string> make_vocabulary() {
  const char* syllables[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "po"};
  std::vector<std::string> words;
  for (int i = 0; i < 512; ++i) {
    std::string word;
    for (int n = i; ; n /= 8) {
      word += syllables[n % 8];
      if (n < 8) break;
    }
    words.push_back(word);
  }
  return words;
}

struct CountingRun {
  int64_t counted = 0;  // words all threads counted
  double elapsed_s = 0;
};

// Runs `count(thread_index)` (which returns the words it counted) on options.threads
// threads until --seconds have passed.
template <typename Count>
CountingRun run_counting_threads(const Options& options, Count count) {
  std::vector<int64_t> counted(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i) threads.emplace_back([&, i] { counted[i] = count(i); });
  run_for(options);
  for (auto& t : threads) t.join();
  CountingRun run;
  run.elapsed_s = seconds_since(start);
  for (int64_t c : counted) run.counted += c;
  return run;
}

// A word-count table with the per-entry work real code does under the same lock (a
// digest over the words counted, as a map that keeps checksums or statistics does), so
// that the critical section is a real share of each operation. Used by the lock-library
// workloads whose locks spin before they sleep (oneTBB): with a bare counter bump their
// spinning hides the lock on 2 CPUs, which is a lock that does not matter, not scenario 1.
template <typename Lock>
struct alignas(64) DigestTable {
  Lock mu;
  std::unordered_map<std::string, int64_t> counts;  // guarded by mu
  uint64_t digest = 0xcbf29ce484222325;             // guarded by mu

  // FNV-1a rounds over the word per update: ~1 us here, most of an operation.
  static constexpr int kDigestRounds = 128;

  // One word's update; the caller holds mu.
  void record(const std::string& word) {
    ++counts[word];
    uint64_t h = digest;
    for (int r = 0; r < kDigestRounds; ++r)
      for (unsigned char c : word) h = (h ^ c) * 0x100000001b3;
    digest = h;
  }
};

// Scenario 1's run over one shared table (bad) or `kShards` tables (fixed): each thread
// counts random words with count_shared(word) or count_sharded(word, hash), the
// workload's own functions (its lock is taken on their lines); then checks that every
// count reached a table and prints the result. Returns main's exit status.
template <typename Table, size_t kShards, typename CountShared, typename CountSharded>
int run_digest_word_count(int argc, char** argv, int default_threads, Table& shared, Table (&shards)[kShards],
                          CountShared count_shared, CountSharded count_sharded) {
  const Options options = parse_options(argc, argv, default_threads);
  const std::vector<std::string> vocabulary = make_vocabulary();
  CountingRun run = run_counting_threads(options, [&](int thread_index) {
    XorShift64 rng(thread_index + 1);
    int64_t counted = 0;
    while (!stop_requested()) {
      for (int i = 0; i < 256; ++i) {
        const size_t w = rng.next() % vocabulary.size();
        if (options.bad())
          count_shared(vocabulary[w]);
        else
          count_sharded(vocabulary[w], w);
      }
      counted += 256;
    }
    return counted;
  });
  int64_t in_tables = 0;
  for (const auto& [word, count] : shared.counts) in_tables += count;
  for (const auto& s : shards)
    for (const auto& [word, count] : s.counts) in_tables += count;
  std::printf("variant=%s threads=%d counted=%lld consistent=%s\n", options.variant_name(), options.threads,
              static_cast<long long>(run.counted), run.counted == in_tables ? "yes" : "no");
  print_throughput(static_cast<double>(run.counted), "words", run.elapsed_s);
  return run.counted == in_tables ? 0 : 1;
}

}  // namespace ccprof::workloads
