// Scenario 13 — a cache fill holds the lock across slow I/O.
//
// Threads look keys up in a small cache (global g_cache_mutex + map, FIFO
// eviction); most lookups miss and must load the value from the "backend":
// a pread() from a file plus a ~2 ms blocking wait for the backend's reply.
//   bad:   the miss path calls load_from_backend() while holding
//          g_cache_mutex, so every other thread, hits included, waits behind
//          one thread's I/O: the cache serves one load at a time.
//   fixed: look up under the lock, release it, load, re-lock to insert
//          (two threads missing the same key may both load it: correct, and
//          cheap here; per-key single-flight would dedupe them).
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

constexpr int kKeys = 4096;          // key space; lookups are uniform over it
constexpr size_t kCacheSlots = 256;  // so ~94% of lookups miss
constexpr size_t kValueBytes = 256;
constexpr int kBackendLatencyMs = 2;

struct Value {
  uint64_t checksum;
};

std::mutex g_cache_mutex;
std::unordered_map<int, Value> g_cache;  // guarded by g_cache_mutex
std::deque<int> g_cache_order;           // guarded by g_cache_mutex, FIFO eviction

int g_backend_file = -1;
int g_backend_reply[2];  // never written: poll() on it waits for the timeout

// The slow part: one disk read and one round trip to the backend (`round_trip` false:
// the disk read alone, to warm the cache before the timed run).
__attribute__((noinline)) Value load_from_backend(int key, bool round_trip = true) {
  unsigned char block[kValueBytes];
  ssize_t n = pread(g_backend_file, block, sizeof block, static_cast<off_t>(key) * kValueBytes);
  pollfd reply{g_backend_reply[0], POLLIN, 0};
  if (round_trip) poll(&reply, 1, kBackendLatencyMs);  // the backend's round trip
  Value value{static_cast<uint64_t>(key)};
  for (ssize_t i = 0; i < n; ++i) value.checksum = value.checksum * 31 + block[i];
  return value;
}

static void insert_locked(int key, Value value) {
  if (g_cache.emplace(key, value).second) {
    g_cache_order.push_back(key);
    if (g_cache_order.size() > kCacheSlots) {
      g_cache.erase(g_cache_order.front());
      g_cache_order.pop_front();
    }
  }
}

// bad: the lock is held for the whole lookup, including the load.
__attribute__((noinline)) Value get_holding_lock(int key, bool* hit) {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto it = g_cache.find(key);
  *hit = it != g_cache.end();
  if (*hit) return it->second;
  Value value = load_from_backend(key);  // PROBLEM: slow I/O while holding g_cache_mutex
  insert_locked(key, value);
  return value;
}

// fixed: the lock only covers the in-memory map.
__attribute__((noinline)) Value get_io_outside_lock(int key, bool* hit) {
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    auto it = g_cache.find(key);
    *hit = it != g_cache.end();
    if (*hit) return it->second;
  }
  Value value = load_from_backend(key);  // FIX: the I/O runs with no lock held
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  insert_locked(key, value);
  return value;
}

// Fills the cache before the timed run, in both variants: a cold cache misses more
// for its first few hundred lookups, and the fixed variant, which does 4x the lookups
// in the same time, would spread that warm-up over 4x as many (its hit rate would read
// ~0.6 points higher, a gain that is not the fix's).
static void warm_cache() {
  XorShift64 rng(12345);
  std::lock_guard<std::mutex> lock(g_cache_mutex);  // one thread yet: never contended
  while (g_cache.size() < kCacheSlots) {
    int key = static_cast<int>(rng.next() % kKeys);
    insert_locked(key, load_from_backend(key, false));
  }
}

static void serve_lookups(const Options& options, int thread_index, int64_t* lookups, int64_t* hits) {
  XorShift64 rng(thread_index + 1);
  int64_t count = 0, hit_count = 0;
  uint64_t sum = 0;
  while (!stop_requested()) {
    int key = static_cast<int>(rng.next() % kKeys);
    bool hit = false;
    Value value = options.bad() ? get_holding_lock(key, &hit) : get_io_outside_lock(key, &hit);
    sum += value.checksum;
    hit_count += hit;
    ++count;
  }
  asm volatile("" : : "r"(sum));
  *lookups = count;
  *hits = hit_count;
}

static bool create_backend_file() {
  char path[] = "/tmp/ccprof-s13-XXXXXX";
  g_backend_file = mkstemp(path);
  if (g_backend_file < 0) return false;
  unlink(path);
  std::vector<unsigned char> data(static_cast<size_t>(kKeys) * kValueBytes);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7);
  return write(g_backend_file, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
         pipe(g_backend_reply) == 0;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  if (!create_backend_file()) {
    std::perror("cannot create the backend file in /tmp");
    return 1;
  }
  warm_cache();
  std::vector<int64_t> lookups(options.threads), hits(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i)
    threads.emplace_back(serve_lookups, std::cref(options), i, &lookups[i], &hits[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);

  int64_t total = 0, total_hits = 0;
  for (int i = 0; i < options.threads; ++i) {
    total += lookups[i];
    total_hits += hits[i];
  }
  std::printf("variant=%s threads=%d lookups=%lld hit_rate=%.3f\n", options.variant_name(),
              options.threads, static_cast<long long>(total),
              total ? static_cast<double>(total_hits) / total : 0.0);
  print_throughput(static_cast<double>(total), "lookups", elapsed);
  return 0;
}
