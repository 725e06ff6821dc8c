// Calibration workload: known lock waits for checking ccprof's measurement.
//
// --threads threads (default 4) repeatedly take one pthread mutex, hold it
// ~0.7 ms doing busy work, release it and do ~50 us of work outside. Each
// thread measures the time it spends inside pthread_mutex_lock with
// CLOCK_MONOTONIC; the program prints the total and the call site, so a
// profiler's lock-wait total for that site can be compared with it. Hold
// times are long, so the waits are real futex sleeps.
// --variant is accepted for a uniform interface and changes nothing.
#include <pthread.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;
using namespace std::chrono_literals;

constexpr auto kHoldTime = 700us;
constexpr auto kOutsideTime = 50us;

pthread_mutex_t g_accuracy_mutex = PTHREAD_MUTEX_INITIALIZER;
int g_lock_call_line;  // the line of the pthread_mutex_lock call in take_lock()

static double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Takes the lock; returns the seconds spent waiting in pthread_mutex_lock.
__attribute__((noinline)) double take_lock() {
  constexpr int lock_call_line = __LINE__ + 2;
  double before = now_seconds();
  pthread_mutex_lock(&g_accuracy_mutex);  // PROBLEM: the measured wait
  g_lock_call_line = lock_call_line;
  return now_seconds() - before;
}

__attribute__((noinline)) void release_lock() { pthread_mutex_unlock(&g_accuracy_mutex); }

static void lock_loop(double* waited, int64_t* acquisitions) {
  double total = 0;
  int64_t count = 0;
  while (!stop_requested()) {
    total += take_lock();
    burn_for(kHoldTime);
    release_lock();
    ++count;
    burn_for(kOutsideTime);
  }
  *waited = total;
  *acquisitions = count;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  std::vector<double> waited(options.threads);
  std::vector<int64_t> acquisitions(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i)
    threads.emplace_back(lock_loop, &waited[i], &acquisitions[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);

  double total_wait = 0;
  int64_t total_acquisitions = 0;
  for (int i = 0; i < options.threads; ++i) {
    total_wait += waited[i];
    total_acquisitions += acquisitions[i];
  }
  std::printf("threads=%d acquisitions=%lld\n", options.threads,
              static_cast<long long>(total_acquisitions));
  std::printf("measured_lock_wait_s=%.6f\n", total_wait);
  std::printf("lock_call_site=%s:%d\n", __FILE__, g_lock_call_line);
  print_throughput(static_cast<double>(total_acquisitions), "locks", elapsed);
  return 0;
}
