// Scenario 1's vocabulary and its counting threads: shared by the workloads that write
// scenario 1 with each lock library (s01_lock_contention.cc with std::mutex,
// s01_absl_mutex.cc with absl::Mutex). Each workload supplies its own counting loop,
// where its lock is taken.
#pragma once

#include <cstdint>
#include <string>
#include <thread>
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

}  // namespace ccprof::workloads
