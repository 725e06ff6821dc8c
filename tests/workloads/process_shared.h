// Worker processes over one shared-memory segment, for the process-shared scenarios
// (a mutex and counters that several processes of one program use, as pre-fork
// servers and multi-process databases do): the parent maps a shared anonymous
// segment, forks one worker process per --threads, lets them run --seconds, then
// stops them through the segment and reports their total work.
#pragma once

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <new>

#include "common.h"

namespace ccprof::workloads {

// `Segment` (a trivially constructible struct with a `std::atomic<bool> stop` member)
// is created in MAP_SHARED memory; `work(segment, index)` runs in each worker process
// until segment.stop and returns its count of work items; the total is printed.
template <typename Segment, typename Work, typename Init>
int run_worker_processes(const Options& options, const char* unit, Init init, Work work) {
  void* mem = mmap(nullptr, sizeof(Segment), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  Segment* seg = new (mem) Segment();
  init(*seg);
  // Each worker writes its count into a pipe-free slot of the segment when it ends.
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      return 1;
    }
    if (pid == 0) {
      seg->done[i] = work(*seg, i);
      _exit(0);
    }
  }
  run_for(options);
  seg->stop.store(true);
  for (int i = 0; i < options.threads; ++i) wait(nullptr);
  const double elapsed = seconds_since(start);
  double total = 0;
  for (int i = 0; i < options.threads; ++i) total += static_cast<double>(seg->done[i]);
  std::printf("variant=%s processes=%d %s=%.0f\n", options.variant_name(), options.threads, unit, total);
  print_throughput(total, unit, elapsed);
  return 0;
}

}  // namespace ccprof::workloads
