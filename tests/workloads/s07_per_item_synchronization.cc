// Scenario 7 — one lock acquisition per item.
//
// A producer hands small items to a consumer through a shared deque guarded
// by g_queue_mutex (+ condition variables). The per-item work is trivial.
//   bad:   the producer pushes one item per lock acquisition and the
//          consumer pops one item per acquisition: the lock is taken
//          millions of times a second for critical sections of a few ns.
//   fixed: the producer pushes batches of kBatch items per acquisition and
//          the consumer swaps out the whole deque per acquisition.
// --threads is the number of producers (default 1); there is one consumer.
// The queue is capped at kMaxQueued items so neither variant grows memory.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

constexpr size_t kBatch = 256;
constexpr size_t kMaxQueued = 1 << 16;

std::mutex g_queue_mutex;
std::condition_variable g_items_available;
std::condition_variable g_space_available;
std::deque<uint64_t> g_item_queue;  // guarded by g_queue_mutex
bool g_producers_done = false;      // guarded by g_queue_mutex

// bad: one lock round trip per item.
__attribute__((noinline)) void push_item(uint64_t item) {
  std::unique_lock<std::mutex> lock(g_queue_mutex);  // PROBLEM: one lock acquisition per item
  g_space_available.wait(lock, [] { return g_item_queue.size() < kMaxQueued; });
  g_item_queue.push_back(item);
  lock.unlock();
  g_items_available.notify_one();
}

// fixed: one lock round trip per kBatch items.
__attribute__((noinline)) void push_batch(std::vector<uint64_t>& batch) {
  std::unique_lock<std::mutex> lock(g_queue_mutex);  // FIX: one acquisition per batch of kBatch items
  g_space_available.wait(lock, [] { return g_item_queue.size() < kMaxQueued; });
  g_item_queue.insert(g_item_queue.end(), batch.begin(), batch.end());
  lock.unlock();
  g_items_available.notify_one();
  batch.clear();
}

// bad: pops one item per acquisition. Returns false when the run is over.
__attribute__((noinline)) bool pop_item(uint64_t* item) {
  std::unique_lock<std::mutex> lock(g_queue_mutex);  // PROBLEM: one lock acquisition per item
  g_items_available.wait(lock, [] { return !g_item_queue.empty() || g_producers_done; });
  if (g_item_queue.empty()) return false;
  *item = g_item_queue.front();
  g_item_queue.pop_front();
  lock.unlock();
  g_space_available.notify_one();
  return true;
}

// fixed: takes everything queued in one acquisition.
__attribute__((noinline)) bool pop_all(std::deque<uint64_t>* items) {
  std::unique_lock<std::mutex> lock(g_queue_mutex);  // FIX: one acquisition drains the whole queue
  g_items_available.wait(lock, [] { return !g_item_queue.empty() || g_producers_done; });
  if (g_item_queue.empty()) return false;
  items->swap(g_item_queue);
  lock.unlock();
  g_space_available.notify_all();
  return true;
}

// The per-item work is a few ns on each side: small next to a lock round trip.
static uint64_t make_item(uint64_t n) { return burn_cpu(n, 4); }
static uint64_t use_item(uint64_t item) { return burn_cpu(item, 4); }

static void produce(const Options& options, int producer, int64_t* produced) {
  std::vector<uint64_t> batch;
  batch.reserve(kBatch);
  uint64_t n = static_cast<uint64_t>(producer) << 40;
  int64_t count = 0;
  while (!stop_requested()) {
    for (size_t i = 0; i < kBatch; ++i) {
      if (options.bad()) {
        push_item(make_item(n++));
      } else {
        batch.push_back(make_item(n++));
      }
    }
    if (!options.bad()) push_batch(batch);
    count += kBatch;
  }
  *produced = count;
}

static void consume(const Options& options, int64_t* consumed, uint64_t* checksum) {
  int64_t count = 0;
  uint64_t sum = 0;
  if (options.bad()) {
    uint64_t item;
    while (pop_item(&item)) {
      sum += use_item(item);
      ++count;
    }
  } else {
    std::deque<uint64_t> items;
    while (pop_all(&items)) {
      for (uint64_t item : items) sum += use_item(item);
      count += static_cast<int64_t>(items.size());
      items.clear();
    }
  }
  *consumed = count;
  *checksum = sum;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 1);
  std::vector<int64_t> produced(options.threads);
  int64_t consumed = 0;
  uint64_t checksum = 0;
  auto start = Clock::now();
  std::thread consumer(consume, std::cref(options), &consumed, &checksum);
  std::vector<std::thread> producers;
  for (int i = 0; i < options.threads; ++i)
    producers.emplace_back(produce, std::cref(options), i, &produced[i]);
  run_for(options);
  for (auto& p : producers) p.join();
  {
    std::lock_guard<std::mutex> lock(g_queue_mutex);
    g_producers_done = true;
  }
  g_items_available.notify_all();
  consumer.join();
  double elapsed = seconds_since(start);

  int64_t total_produced = 0;
  for (int64_t p : produced) total_produced += p;
  std::printf("variant=%s producers=%d produced=%lld consumed=%lld items_per_lock=%zu\n",
              options.variant_name(), options.threads, static_cast<long long>(total_produced),
              static_cast<long long>(consumed), options.bad() ? size_t{1} : kBatch);
  print_throughput(static_cast<double>(consumed), "items", elapsed);
  return total_produced == consumed ? 0 : 1;
}
