// Scenario 4 — a mutex where one atomic instruction would do.
//
// Every "request" increments one shared request counter.
//   bad:   the counter is an int64_t guarded by g_counter_mutex: the whole
//          critical section is one read-modify-write of one word, yet
//          contended threads park on the futex.
//   fixed: the counter is a std::atomic<int64_t> incremented with one
//          relaxed fetch_add (still a shared hot word, but no parking).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

std::mutex g_counter_mutex;
int64_t g_counter;  // guarded by g_counter_mutex

std::atomic<int64_t> g_atomic_counter;

__attribute__((noinline)) void count_request_locked() {
  std::lock_guard<std::mutex> g(g_counter_mutex);  // PROBLEM: a mutex held only to increment one int64
  ++g_counter;
}

__attribute__((noinline)) void count_request_atomic() {
  g_atomic_counter.fetch_add(1, std::memory_order_relaxed);  // FIX: one atomic add, no lock
}

static void request_loop(const Options& options, int64_t* handled) {
  int64_t count = 0;
  uint64_t work = 1;
  while (!stop_requested()) {
    for (int i = 0; i < 256; ++i) {
      work = burn_cpu(work, 4);  // the request's own (tiny) work
      if (options.bad())
        count_request_locked();
      else
        count_request_atomic();
    }
    count += 256;
  }
  *handled = count;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  std::vector<int64_t> handled(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i)
    threads.emplace_back(request_loop, std::cref(options), &handled[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);

  int64_t total = 0;
  for (int64_t h : handled) total += h;
  int64_t counter = options.bad() ? g_counter : g_atomic_counter.load();
  std::printf("variant=%s threads=%d requests=%lld counter=%lld consistent=%s\n",
              options.variant_name(), options.threads, static_cast<long long>(total),
              static_cast<long long>(counter), total == counter ? "yes" : "no");
  print_throughput(static_cast<double>(total), "increments", elapsed);
  return total == counter ? 0 : 1;
}
