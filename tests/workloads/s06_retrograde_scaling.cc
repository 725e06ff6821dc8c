// Scenario 6 — more threads, less throughput (Universal Scalability Law).
//
// --threads=N workers each handle "requests" (a small computation) and
// record each request's latency bucket in their own latency histogram.
//   bad:   the histograms are shared statistics under one global mutex
//          (the contention term α), and every update also refreshes the
//          global p99 (used for adaptive timeouts) by merging all N workers'
//          histograms: each operation reads every other worker's data (the
//          crosstalk term β, O(N) per operation, O(N^2) in all). Throughput
//          peaks at a small N and falls as N grows.
//   fixed: each worker records only into its own histogram, lock-free; the
//          histograms are merged once, when the p99 is read at the end.
//          Workers no longer talk to each other, so throughput levels off at
//          the core count instead of falling.
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

constexpr int kMaxThreads = 64;
// 256 buckets (latencies are bucketed by their lowest set bit, so only the first 64
// ever fill): a merge reads 8 KiB per worker, enough that the O(N) crosstalk outweighs
// the request's own work from a few threads on, even on a busy 2-core machine.
constexpr int kBuckets = 256;
constexpr int kWorkRounds = 128;  // the request's own work (~0.2 us)

struct alignas(64) LatencyHistogram {  // one per worker, on its own lines
  int64_t counts[kBuckets];
};
LatencyHistogram g_worker_histograms[kMaxThreads];  // bad: guarded by g_stats_mutex

std::mutex g_stats_mutex;
int g_p99_bucket;  // guarded by g_stats_mutex

// The 99th-percentile bucket over the first `workers` histograms.
__attribute__((noinline)) int merge_p99_bucket(int workers) {
  int64_t merged[kBuckets] = {};
  int64_t total = 0;
  for (int w = 0; w < workers; ++w) {
    for (int b = 0; b < kBuckets; ++b) merged[b] += g_worker_histograms[w].counts[b];
  }
  for (int b = 0; b < kBuckets; ++b) total += merged[b];
  int64_t below = 0;
  for (int b = 0; b < kBuckets; ++b) {
    below += merged[b];
    if (below * 100 >= total * 99) return b;
  }
  return kBuckets - 1;
}

// bad: record under the global lock and refresh the global p99 every time.
__attribute__((noinline)) void record_latency_shared(int self, int workers, int bucket) {
  std::lock_guard<std::mutex> lock(g_stats_mutex);  // PROBLEM: every request of every worker serializes here
  ++g_worker_histograms[self].counts[bucket];
  g_p99_bucket = merge_p99_bucket(workers);  // PROBLEM: crosstalk, each update reads all N workers' histograms
}

// fixed: only the owner writes its histogram; nobody reads it until the end.
__attribute__((noinline)) void record_latency_local(int self, int bucket) {
  ++g_worker_histograms[self].counts[bucket];  // FIX: per-worker shard, merged on read
}

static int latency_bucket(uint64_t x) {
  // Mostly low buckets, with a tail: the lowest set bit of a random number.
  return static_cast<int>(__builtin_ctzll(x | (1ull << 63)));
}

static void handle_requests(const Options& options, int self, int64_t* handled) {
  uint64_t x = static_cast<uint64_t>(self) + 1;
  int64_t count = 0;
  while (!stop_requested()) {
    for (int i = 0; i < 64; ++i) {
      x = burn_cpu(x, kWorkRounds);
      if (options.bad())
        record_latency_shared(self, options.threads, latency_bucket(x));
      else
        record_latency_local(self, latency_bucket(x));
    }
    count += 64;
  }
  *handled = count;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, kMaxThreads);
  std::vector<int64_t> handled(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i) threads.emplace_back(handle_requests, std::cref(options), i, &handled[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);

  int64_t total = 0;
  for (int64_t h : handled) total += h;
  std::printf("variant=%s threads=%d requests=%lld p99_bucket=%d\n", options.variant_name(),
              options.threads, static_cast<long long>(total), merge_p99_bucket(options.threads));
  print_throughput(static_cast<double>(total), "ops", elapsed);
  return 0;
}
