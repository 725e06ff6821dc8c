// Scenario 3 — false sharing destroys per-thread counters.
//
// Thread i increments its own counter i in a tight loop; no two threads
// touch the same counter.
//   bad:   the counters are a packed int64_t[8]: all eight share one 64-byte
//          cache line, which ping-pongs between the cores on every store.
//   fixed: each counter sits in its own 64-byte aligned slot.
// The counters are volatile so every increment is a real load and a plain
// store to memory (not a lock-prefixed read-modify-write, and not hoisted
// into a register by the compiler).
#include <cstdint>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

constexpr int kSlots = 8;
constexpr int kBurst = 1 << 16;

alignas(64) volatile int64_t g_counters[kSlots];  // bad: 8 x 8 bytes = one cache line

struct alignas(64) PaddedCounter {  // FIX: one counter per 64-byte line
  volatile int64_t value;
};
PaddedCounter g_padded_counters[kSlots];

__attribute__((noinline)) void bump_shared_line(int slot) {
  for (int i = 0; i < kBurst; ++i) {
    g_counters[slot] = g_counters[slot] + 1;  // PROBLEM: neighbouring slots share this cache line
  }
}

__attribute__((noinline)) void bump_padded(int slot) {
  for (int i = 0; i < kBurst; ++i) {
    g_padded_counters[slot].value = g_padded_counters[slot].value + 1;  // FIX: own cache line
  }
}

static void count_loop(const Options& options, int slot) {
  while (!stop_requested()) {
    if (options.bad())
      bump_shared_line(slot);
    else
      bump_padded(slot);
  }
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, kSlots);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i) threads.emplace_back(count_loop, std::cref(options), i);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);

  int64_t total = 0;
  for (int i = 0; i < kSlots; ++i) total += options.bad() ? g_counters[i] : g_padded_counters[i].value;
  std::printf("variant=%s threads=%d increments=%lld\n", options.variant_name(), options.threads,
              static_cast<long long>(total));
  print_throughput(static_cast<double>(total), "increments", elapsed);
  return 0;
}
