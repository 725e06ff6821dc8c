// Corpus: a latency histogram filled by several threads, one row of counts per thread.
//
// Each thread classifies request latencies into buckets and counts them in its own
// row; the rows are summed when the threads stop. No two threads write the same count.
//   bad:   the rows are adjacent in one allocation (10 x 8 bytes = 80 bytes a row),
//          so a thread's last buckets share a cache line with the next thread's first.
//   fixed: each row is padded to a whole number of cache lines and the allocation is
//          line-aligned.
#include <cstdint>
#include <cstdio>
#include <new>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

namespace corpus {

constexpr int kBuckets = 10;
constexpr size_t kCacheLine = 64;

class LatencyHistogram {
 public:
  // `row_stride` is in counts: kBuckets (packed) or rounded up to a cache line.
  LatencyHistogram(int rows, size_t row_stride)
      : rows_(rows),
        stride_(row_stride),
        counts_(static_cast<uint64_t*>(::operator new[](rows * row_stride * sizeof(uint64_t),
                                                        std::align_val_t{kCacheLine}))) {
    for (size_t i = 0; i < rows * row_stride; ++i) counts_[i] = 0;
  }
  ~LatencyHistogram() { ::operator delete[](counts_, std::align_val_t{kCacheLine}); }
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  static size_t packed_stride() { return kBuckets; }
  // FIX: round each row up to whole cache lines, so no two rows share one.
  static size_t padded_stride() {
    constexpr size_t per_line = kCacheLine / sizeof(uint64_t);
    return (kBuckets + per_line - 1) / per_line * per_line;
  }

  uint64_t* row(int thread) { return counts_ + thread * stride_; }

  uint64_t total() const {
    uint64_t sum = 0;
    for (int r = 0; r < rows_; ++r)
      for (int b = 0; b < kBuckets; ++b) sum += counts_[r * stride_ + b];
    return sum;
  }

 private:
  int rows_;
  size_t stride_;
  uint64_t* counts_;
};

// Bucket of a latency in microseconds: ten buckets, spread so every bucket is hot.
inline int bucket_of(uint64_t latency_us) { return static_cast<int>((latency_us * 0x9E3779B97F4A7C15ull) >> 60) % kBuckets; }

// A thread's share of the work: simulated latencies for a batch of requests.
__attribute__((noinline)) void record_batch(uint64_t* my_row, XorShift64& rng, int n) {
  for (int i = 0; i < n; ++i) {
    uint64_t latency_us = rng.next() % 5000;
    my_row[bucket_of(latency_us)]++;  // PROBLEM: the next thread's row starts on this row's last line
  }
}

void recorder(LatencyHistogram* histogram, int thread) {
  uint64_t* my_row = histogram->row(thread);
  XorShift64 rng(thread + 1);
  while (!stop_requested()) record_batch(my_row, rng, 4096);
}

}  // namespace corpus

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, 64);
  size_t stride = options.bad() ? corpus::LatencyHistogram::packed_stride() : corpus::LatencyHistogram::padded_stride();
  corpus::LatencyHistogram histogram(options.threads, stride);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i) threads.emplace_back(corpus::recorder, &histogram, i);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);
  uint64_t total = histogram.total();
  std::printf("variant=%s threads=%d row_stride=%zu samples=%llu\n", options.variant_name(), options.threads,
              stride * sizeof(uint64_t), static_cast<unsigned long long>(total));
  print_throughput(static_cast<double>(total), "samples", elapsed);
  return 0;
}
