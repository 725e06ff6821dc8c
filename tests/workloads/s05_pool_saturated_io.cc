// Scenario 5 — an I/O-bound pool sized like a CPU-bound one.
//
// Tasks arrive at a fixed offered rate (800/s). Each task waits ~5 ms for an
// "upstream reply" (a real blocking poll() on a pipe nobody writes to) and
// then does ~50 us of CPU work.
//   bad:   the pool has `cores` workers (--threads, default
//          hardware_concurrency). Each worker can complete at most ~200
//          tasks/s, so every worker is busy all the time, mostly blocked in
//          poll(), the CPUs sit idle and the backlog grows.
//   fixed: the pool is sized by Little's law: in-flight tasks L = rate x
//          time per task = 800/s x ~5.05 ms ~ 4, and the pool keeps that at
//          half its size, so workers idle waiting for work a good share of
//          the time and the backlog stays empty.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;
using namespace std::chrono_literals;

constexpr double kOfferedRate = 800.0;        // tasks per second
constexpr int kUpstreamWaitMs = 5;            // blocking wait per task
constexpr auto kComputeTime = 50us;           // CPU work per task
constexpr double kTargetBusyShare = 0.5;      // fixed: workers busy half the time

struct Task {
  uint64_t id;
};

std::mutex g_queue_mutex;
std::condition_variable g_queue_ready;
std::deque<Task> g_task_queue;  // guarded by g_queue_mutex

int g_upstream_pipe[2];  // never written: a poll() on it waits for the timeout

// The remote call: the worker thread is blocked for the whole wait.
__attribute__((noinline)) int wait_for_upstream_reply() {
  pollfd reply{g_upstream_pipe[0], POLLIN, 0};
  return poll(&reply, 1, kUpstreamWaitMs);  // PROBLEM: blocks one of only `cores` pool threads for 5 ms
}

__attribute__((noinline)) uint64_t handle_task(const Task& task) {
  wait_for_upstream_reply();
  return cpu_work(kComputeTime, task.id);
}

static void submit(Task task) {
  {
    std::lock_guard<std::mutex> lock(g_queue_mutex);
    g_task_queue.push_back(task);
  }
  g_queue_ready.notify_one();
}

static void worker_loop(int64_t* completed, double* busy_seconds) {
  int64_t done = 0;
  double busy = 0;
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(g_queue_mutex);
      g_queue_ready.wait(lock, [] { return stop_requested() || !g_task_queue.empty(); });
      if (stop_requested()) break;
      task = g_task_queue.front();
      g_task_queue.pop_front();
    }
    auto begin = Clock::now();
    handle_task(task);
    busy += seconds_since(begin);
    ++done;
  }
  *completed = done;
  *busy_seconds = busy;
}

// Offers tasks at kOfferedRate until the run ends.
static int64_t offer_tasks() {
  auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / kOfferedRate));
  auto next = Clock::now();
  int64_t submitted = 0;
  while (!stop_requested()) {
    submit(Task{static_cast<uint64_t>(submitted++)});
    next += period;
    std::this_thread::sleep_until(next);
  }
  return submitted;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, hardware_threads());
  if (pipe(g_upstream_pipe) != 0) {
    std::perror("pipe");
    return 1;
  }
  // Little's law: tasks in service L = arrival rate x time each holds a worker.
  double task_seconds = kUpstreamWaitMs / 1000.0 + std::chrono::duration<double>(kComputeTime).count();
  double in_service = kOfferedRate * task_seconds;
  int little_pool = static_cast<int>(std::ceil(in_service / kTargetBusyShare));
  // bad: `cores` workers, as for CPU-bound work. FIX: the Little's-law size.
  int pool_size = options.bad() ? options.threads : std::max(options.threads, little_pool);

  std::vector<int64_t> completed(pool_size);
  std::vector<double> busy(pool_size);
  std::vector<std::thread> workers;
  auto start = Clock::now();
  for (int i = 0; i < pool_size; ++i) workers.emplace_back(worker_loop, &completed[i], &busy[i]);
  std::thread stopper([&] {
    run_for(options);
    std::lock_guard<std::mutex> lock(g_queue_mutex);  // no lost wake-up
    g_queue_ready.notify_all();
  });
  int64_t submitted = offer_tasks();
  stopper.join();
  for (auto& w : workers) w.join();
  double elapsed = seconds_since(start);

  int64_t total = 0;
  double busy_total = 0;
  for (int i = 0; i < pool_size; ++i) {
    total += completed[i];
    busy_total += busy[i];
  }
  std::printf("variant=%s pool_size=%d little_pool_size=%d offered_rate=%.0f submitted=%lld "
              "completed=%lld backlog=%zu worker_busy_share=%.2f\n",
              options.variant_name(), pool_size, little_pool, kOfferedRate,
              static_cast<long long>(submitted), static_cast<long long>(total),
              g_task_queue.size(), busy_total / (pool_size * elapsed));
  print_throughput(static_cast<double>(total), "tasks", elapsed);
  return 0;
}
