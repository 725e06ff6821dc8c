// Corpus: map-reduce over sales records with one partial result per mapper thread.
//
// Each mapper owns a shard of the input and a PartialResult it reaches through a
// pointer; the reducer merges the partials once the mappers stop. No two threads
// write the same field.
//   bad:   the partial results are 48-byte structs packed in one std::vector, so a
//          mapper's revenue_by_region shares a cache line with its neighbour's counts
//          (false sharing between adjacent results).
//   fixed: the same struct declared alignas(64): each partial result owns its lines.
// Written the way production code is: a job class template over the result type, the
// per-thread state reached through a pointer, std::thread and std::vector.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

namespace corpus {

struct SaleRecord {
  uint64_t customer_id;
  double amount;
  uint32_t region;
  uint32_t flags;
};
constexpr uint32_t kRefund = 1;
constexpr int kRegions = 4;

// 48 bytes: four to a 192-byte stretch of three lines, so neighbours share lines.
struct PartialResult {
  uint64_t records = 0;
  uint64_t refunds = 0;
  double revenue_by_region[kRegions] = {};
};

// FIX: alignas(64) gives every mapper's partial result its own cache lines.
struct alignas(64) PaddedPartialResult : PartialResult {};

struct Summary {
  uint64_t records = 0;
  uint64_t refunds = 0;
  double revenue = 0;
};

// The input, generated once: each mapper gets a contiguous shard it scans again and
// again (as a long job over a much larger input would).
std::vector<SaleRecord> make_sales(size_t n, uint64_t seed) {
  std::vector<SaleRecord> sales(n);
  XorShift64 rng(seed);
  for (auto& s : sales) {
    uint64_t r = rng.next();
    s.customer_id = r >> 20;
    s.amount = static_cast<double>(r % 10000) / 100.0;
    s.region = static_cast<uint32_t>((r >> 8) % kRegions);
    s.flags = (r % 17 == 0) ? kRefund : 0;
  }
  return sales;
}

template <class Result>
class MapReduceJob {
 public:
  MapReduceJob(const std::vector<SaleRecord>& input, int mappers) : input_(input), partials_(mappers) {}

  void run(const Options& options) {
    std::vector<std::thread> threads;
    size_t shard = input_.size() / partials_.size();
    for (size_t i = 0; i < partials_.size(); ++i) {
      const SaleRecord* begin = input_.data() + i * shard;
      Result* out = &partials_[i];
      threads.emplace_back([this, begin, shard, out] { map_until_stopped(begin, begin + shard, out); });
    }
    run_for(options);
    for (auto& t : threads) t.join();
  }

  Summary reduce() const {
    Summary s;
    for (const Result& p : partials_) {
      s.records += p.records;
      s.refunds += p.refunds;
      for (double r : p.revenue_by_region) s.revenue += r;
    }
    return s;
  }

 private:
  static void map_shard(const SaleRecord* begin, const SaleRecord* end, Result* out) {
    for (const SaleRecord* rec = begin; rec != end; ++rec) {
      out->records++;
      if (rec->flags & kRefund) {
        out->refunds++;
        out->revenue_by_region[rec->region] -= rec->amount;
      } else {
        out->revenue_by_region[rec->region] += rec->amount;  // PROBLEM: neighbours' partials share this line
      }
    }
  }

  static void map_until_stopped(const SaleRecord* begin, const SaleRecord* end, Result* out) {
    while (!stop_requested()) map_shard(begin, end, out);
  }

  const std::vector<SaleRecord>& input_;
  std::vector<Result> partials_;
};

template <class Result>
Summary run_job(const Options& options, const std::vector<SaleRecord>& sales) {
  MapReduceJob<Result> job(sales, options.threads);
  job.run(options);
  return job.reduce();
}

}  // namespace corpus

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, 64);
  // 8192 records (192 KiB) per mapper: the shards stay in cache, so the partial
  // results' lines are what the cores fight over.
  std::vector<corpus::SaleRecord> sales = corpus::make_sales(8192 * options.threads, 42);
  auto start = Clock::now();
  corpus::Summary s = options.bad() ? corpus::run_job<corpus::PartialResult>(options, sales)
                                    : corpus::run_job<corpus::PaddedPartialResult>(options, sales);
  double elapsed = seconds_since(start);
  std::printf("variant=%s mappers=%d records=%llu refunds=%llu revenue=%.0f\n", options.variant_name(),
              options.threads, static_cast<unsigned long long>(s.records),
              static_cast<unsigned long long>(s.refunds), s.revenue);
  print_throughput(static_cast<double>(s.records), "records", elapsed);
  return 0;
}
