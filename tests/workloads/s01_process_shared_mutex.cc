// Scenario 1 across processes — worker processes serialise on one process-shared
// mutex in a shared-memory segment (a pre-fork server's shared table).
//   bad:   every process takes the one PTHREAD_PROCESS_SHARED mutex per item and does
//          the item's work while holding it.
//   fixed: the table is sharded 64 ways, one process-shared mutex per shard.
// Each process maps the segment at its own address: ccprof must see one lock (not
// one per process), waited on by every process.
#include <pthread.h>

#include <cstdint>

#include "process_shared.h"

using namespace ccprof::workloads;

constexpr int kShards = 64;
constexpr int kMaxProcesses = 16;
constexpr int kBuckets = 4096;

struct alignas(64) Shard {
  pthread_mutex_t mu;
  uint64_t counts[kBuckets / kShards];
};

struct Segment {
  std::atomic<bool> stop{false};
  uint64_t done[kMaxProcesses];
  pthread_mutex_t table_mu;  // bad: one lock for the whole table
  uint64_t counts[kBuckets];
  Shard shards[kShards];     // FIX: one lock per shard
};

void init_shared_mutex(pthread_mutex_t* mu) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(mu, &attr);
  pthread_mutexattr_destroy(&attr);
}

uint64_t hash_item(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  return x ^ (x >> 33);
}

__attribute__((noinline)) void count_item_shared(Segment& seg, uint64_t item) {
  pthread_mutex_lock(&seg.table_mu);  // PROBLEM: every process serialises on this one shared mutex, per item
  const uint64_t h = burn_cpu(item, 40);
  seg.counts[h % kBuckets]++;
  pthread_mutex_unlock(&seg.table_mu);
}

__attribute__((noinline)) void count_item_sharded(Segment& seg, uint64_t item) {
  const uint64_t key = hash_item(item);
  Shard& s = seg.shards[key % kShards];
  pthread_mutex_lock(&s.mu);  // FIX: 64 locks; processes rarely meet on one
  const uint64_t h = burn_cpu(item, 40);
  s.counts[h % (kBuckets / kShards)]++;
  pthread_mutex_unlock(&s.mu);
}

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv, 4, kMaxProcesses);
  return run_worker_processes<Segment>(
      options, "items",
      [](Segment& seg) {
        init_shared_mutex(&seg.table_mu);
        for (auto& s : seg.shards) init_shared_mutex(&s.mu);
      },
      [&options](Segment& seg, int index) {
        uint64_t n = 0, item = static_cast<uint64_t>(index) << 40;
        while (!seg.stop.load(std::memory_order_relaxed)) {
          if (options.bad())
            count_item_shared(seg, item++);
          else
            count_item_sharded(seg, item++);
          ++n;
        }
        return n;
      });
}
