// Threads that log through one stdio stream: every printf takes the FILE's lock (stdout's
// is libc's _IO_stdfile_1_lock), so with one line per call the threads run one at a time
// through it. Not a scenario of the matrix: a lock that is stdio's, not the program's,
// whose remedy is fewer writes, not sharding (tests/e2e/stdio_lock_test.py).
//   bad:   one printf per line, from every thread.
//   fixed: each thread formats into a buffer of its own and writes it with one fwrite
//          per 64 KiB.
// The lines go to stdout (run it with stdout on /dev/null); the throughput line to stderr.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "word_counting.h"

using namespace ccprof::workloads;

// bad: a lock round trip on stdout per line.
__attribute__((noinline)) int64_t log_lines_unbuffered(int thread_index) {
  int64_t n = 0;
  while (!stop_requested()) {
    for (int i = 0; i < 64; ++i, ++n)
      std::printf("worker %d line %lld\n", thread_index, static_cast<long long>(n));  // PROBLEM: stdout's lock per line
  }
  return n;
}

// fixed: one lock round trip per 64 KiB.
__attribute__((noinline)) int64_t log_lines_buffered(int thread_index) {
  std::string out;
  char line[96];
  int64_t n = 0;
  while (!stop_requested()) {
    for (int i = 0; i < 64; ++i, ++n) {
      const int len = std::snprintf(line, sizeof line, "worker %d line %lld\n", thread_index, static_cast<long long>(n));
      out.append(line, static_cast<size_t>(len));
    }
    if (out.size() >= 64 * 1024) {
      std::fwrite(out.data(), 1, out.size(), stdout);  // FIX: the thread's lines in one call
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return n;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  CountingRun run = run_counting_threads(
      options, [&](int i) { return options.bad() ? log_lines_unbuffered(i) : log_lines_buffered(i); });
  std::fflush(stdout);
  std::fprintf(stderr, "variant=%s threads=%d lines=%lld\nthroughput=%.1f lines/s\n", options.variant_name(),
               options.threads, static_cast<long long>(run.counted), run.elapsed_s > 0 ? run.counted / run.elapsed_s : 0.0);
  return 0;
}
