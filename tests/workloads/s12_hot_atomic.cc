// Scenario 12 — one hot shared atomic counter.
//
// Every thread counts "hits" in a tight loop.
//   bad:   all threads fetch_add the one std::atomic<int64_t> g_hits: every
//          increment is a locked read-modify-write on a line that bounces
//          between the cores.
//   fixed: each thread counts in its own 64-byte aligned cell (an owner-only
//          relaxed load and store, no lock prefix); the cells are summed on
//          read, at the end.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

constexpr int kMaxThreads = 256;
constexpr int kBurst = 1 << 14;

std::atomic<int64_t> g_hits;  // bad: one word for all threads

struct alignas(64) HitCell {  // fixed: one cell per thread, own cache line
  std::atomic<int64_t> hits;
};
HitCell g_hit_cells[kMaxThreads];

__attribute__((noinline)) void record_hits_shared() {
  for (int i = 0; i < kBurst; ++i) {
    g_hits.fetch_add(1);  // PROBLEM: every thread's locked add hits the same cache line
  }
}

__attribute__((noinline)) void record_hits_sharded(HitCell& cell) {
  for (int i = 0; i < kBurst; ++i) {
    cell.hits.store(cell.hits.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // FIX: owner-only cell
  }
}

__attribute__((noinline)) int64_t sum_hits(int threads) {
  int64_t total = 0;
  for (int i = 0; i < threads; ++i) total += g_hit_cells[i].hits.load(std::memory_order_relaxed);
  return total;
}

static void hit_loop(const Options& options, int thread_index, int64_t* recorded) {
  int64_t count = 0;
  while (!stop_requested()) {
    if (options.bad())
      record_hits_shared();
    else
      record_hits_sharded(g_hit_cells[thread_index]);
    count += kBurst;
  }
  *recorded = count;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, kMaxThreads);
  std::vector<int64_t> recorded(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i)
    threads.emplace_back(hit_loop, std::cref(options), i, &recorded[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);

  int64_t expected = 0;
  for (int64_t r : recorded) expected += r;
  int64_t total = options.bad() ? g_hits.load() : sum_hits(options.threads);
  std::printf("variant=%s threads=%d hits=%lld consistent=%s\n", options.variant_name(),
              options.threads, static_cast<long long>(total), total == expected ? "yes" : "no");
  print_throughput(static_cast<double>(total), "increments", elapsed);
  return total == expected ? 0 : 1;
}
