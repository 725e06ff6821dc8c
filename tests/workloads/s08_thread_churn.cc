// Scenario 8 — one OS thread per small task.
//
// Tasks of ~20 us of CPU work each.
//   bad:   the dispatcher creates a new std::thread for every task and joins
//          it; up to --threads (default 4) task threads are alive at once,
//          so the process creates thousands of short-lived threads a second.
//   fixed: a pool of `cores` threads takes the same tasks from a shared
//          task queue (an atomic index into the endless task sequence).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;
using namespace std::chrono_literals;

constexpr auto kTaskTime = 20us;

std::atomic<int64_t> g_next_task;  // fixed: the pool's task queue head

__attribute__((noinline)) void run_task(int64_t task) {
  uint64_t result = cpu_work(kTaskTime, static_cast<uint64_t>(task));
  asm volatile("" : : "r"(result));  // keep the work
}

// bad: spawn a thread per task, `width` at a time, and join them.
__attribute__((noinline)) int64_t dispatch_thread_per_task(int width) {
  int64_t task = 0;
  std::vector<std::thread> running;
  running.reserve(width);
  while (!stop_requested()) {
    for (int i = 0; i < width; ++i) {
      running.emplace_back(run_task, task++);  // PROBLEM: a new OS thread for every 20 us task
    }
    for (auto& t : running) t.join();
    running.clear();
  }
  return task;
}

static void pool_worker(int64_t* done) {
  int64_t count = 0;
  while (!stop_requested()) {
    run_task(g_next_task.fetch_add(1, std::memory_order_relaxed));  // FIX: reuse a pooled thread
    ++count;
  }
  *done = count;
}

// fixed: `cores` long-lived threads drain the task queue.
__attribute__((noinline)) int64_t dispatch_to_pool(int pool_size) {
  std::vector<int64_t> done(pool_size);
  std::vector<std::thread> pool;
  for (int i = 0; i < pool_size; ++i) pool.emplace_back(pool_worker, &done[i]);
  for (auto& t : pool) t.join();
  int64_t total = 0;
  for (int64_t d : done) total += d;
  return total;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  int pool_size = hardware_threads();
  auto start = Clock::now();
  std::thread stopper([&] { run_for(options); });
  int64_t tasks = options.bad() ? dispatch_thread_per_task(options.threads) : dispatch_to_pool(pool_size);
  stopper.join();
  double elapsed = seconds_since(start);

  std::printf("variant=%s tasks=%lld threads_created=%lld\n", options.variant_name(),
              static_cast<long long>(tasks),
              static_cast<long long>(options.bad() ? tasks : pool_size));
  print_throughput(static_cast<double>(tasks), "tasks", elapsed);
  return 0;
}
