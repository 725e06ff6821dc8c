// Scenario 14 — fan-out through a channel with the wrong buffer size.
//
// One producer prepares items (~1 us each) and hands them to --threads
// workers (default 4) that process them (~30 us each).
//   bad:   the channel has capacity 0 (a rendezvous): the producer puts an
//          item in the slot and waits until a worker has taken it, and a
//          worker waits for the producer's next item, so every item costs a
//          wake/wait pair on the channel's condition variables and producer
//          and workers take turns being blocked.
//   fixed: a buffered queue of capacity 2 x workers: the producer runs ahead
//          and only waits when the buffer is full; it is woken again once the
//          workers have drained it to half, not after every item.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;
using namespace std::chrono_literals;

constexpr auto kPrepareTime = 1us;
constexpr auto kProcessTime = 30us;

std::mutex g_channel_mutex;
std::condition_variable g_item_ready;  // a worker may take an item
std::condition_variable g_item_taken;  // the producer may put an item
bool g_channel_closed = false;         // guarded by g_channel_mutex

// bad: capacity 0, one slot that the producer waits to see emptied.
bool g_slot_full = false;  // guarded by g_channel_mutex
uint64_t g_slot;           // guarded by g_channel_mutex

// fixed: a bounded buffer.
std::deque<uint64_t> g_buffer;  // guarded by g_channel_mutex
size_t g_buffer_capacity;

__attribute__((noinline)) void send_rendezvous(uint64_t item) {
  std::unique_lock<std::mutex> lock(g_channel_mutex);
  g_slot = item;
  g_slot_full = true;
  g_item_ready.notify_one();
  g_item_taken.wait(lock, [] { return !g_slot_full; });  // PROBLEM: the producer blocks until a worker takes this item
}

__attribute__((noinline)) bool receive_rendezvous(uint64_t* item) {
  std::unique_lock<std::mutex> lock(g_channel_mutex);
  g_item_ready.wait(lock, [] { return g_slot_full || g_channel_closed; });  // PROBLEM: each worker waits for the producer's next item
  if (!g_slot_full) return false;
  *item = g_slot;
  g_slot_full = false;
  g_item_taken.notify_one();
  return true;
}

__attribute__((noinline)) void send_buffered(uint64_t item) {
  std::unique_lock<std::mutex> lock(g_channel_mutex);
  if (g_buffer.size() >= g_buffer_capacity)  // FIX: wait only when the buffer is full, until it is half empty
    g_item_taken.wait(lock, [] { return g_buffer.size() <= g_buffer_capacity / 2; });
  g_buffer.push_back(item);
  g_item_ready.notify_one();
}

__attribute__((noinline)) bool receive_buffered(uint64_t* item) {
  std::unique_lock<std::mutex> lock(g_channel_mutex);
  g_item_ready.wait(lock, [] { return !g_buffer.empty() || g_channel_closed; });
  if (g_buffer.empty()) return false;
  *item = g_buffer.front();
  g_buffer.pop_front();
  if (g_buffer.size() <= g_buffer_capacity / 2) g_item_taken.notify_one();
  return true;
}

__attribute__((noinline)) uint64_t prepare_item(uint64_t n) { return cpu_work(kPrepareTime, n); }
__attribute__((noinline)) uint64_t process_item(uint64_t item) { return cpu_work(kProcessTime, item); }

static int64_t produce(const Options& options) {
  int64_t sent = 0;
  while (!stop_requested()) {
    uint64_t item = prepare_item(static_cast<uint64_t>(sent));
    if (options.bad())
      send_rendezvous(item);
    else
      send_buffered(item);
    ++sent;
  }
  std::lock_guard<std::mutex> lock(g_channel_mutex);
  g_channel_closed = true;
  g_item_ready.notify_all();
  return sent;
}

static void work(const Options& options, int64_t* processed) {
  int64_t count = 0;
  uint64_t item, sum = 0;
  while (options.bad() ? receive_rendezvous(&item) : receive_buffered(&item)) {
    sum += process_item(item);
    ++count;
  }
  asm volatile("" : : "r"(sum));
  *processed = count;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  g_buffer_capacity = 2 * static_cast<size_t>(options.threads);
  std::vector<int64_t> processed(options.threads);
  std::vector<std::thread> workers;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i) workers.emplace_back(work, std::cref(options), &processed[i]);
  std::thread stopper([&] { run_for(options); });
  int64_t sent = produce(options);
  stopper.join();
  for (auto& w : workers) w.join();
  double elapsed = seconds_since(start);

  int64_t total = 0;
  for (int64_t p : processed) total += p;
  std::printf("variant=%s workers=%d buffer=%zu sent=%lld processed=%lld\n", options.variant_name(),
              options.threads, options.bad() ? size_t{0} : g_buffer_capacity,
              static_cast<long long>(sent), static_cast<long long>(total));
  print_throughput(static_cast<double>(total), "items", elapsed);
  return sent == total ? 0 : 1;
}
