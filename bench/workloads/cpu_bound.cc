// Benchmark workload: CPU-bound, no contention, no shared writes.
//
// Each thread mixes integers in registers (burn_cpu) and counts rounds into its
// own stack variable; nothing is shared until the join. The profiler's cost on
// such a target is only its sampling and tracing, never the target's own waits.
// Flags: --seconds=N (default 2), --threads=N (default: the online CPUs).
// Prints "throughput=<rounds/s> rounds/s".
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

constexpr int kRoundsPerBatch = 4096;  // ~ a few microseconds: the stop flag is polled rarely

static void spin(uint64_t seed, uint64_t* rounds_done) {
  uint64_t x = seed, rounds = 0;
  while (!stop_requested()) {
    x = burn_cpu(x, kRoundsPerBatch);
    rounds += kRoundsPerBatch;
  }
  asm volatile("" : "+r"(x));
  *rounds_done = rounds;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, hardware_threads());
  std::vector<uint64_t> done(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i) threads.emplace_back(spin, i + 1, &done[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);
  uint64_t total = 0;
  for (uint64_t d : done) total += d;
  std::printf("threads=%d rounds=%llu\n", options.threads, static_cast<unsigned long long>(total));
  print_throughput(static_cast<double>(total), "rounds", elapsed);
  return 0;
}
