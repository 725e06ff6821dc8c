// Scenario 3 across processes — worker processes bump their own counters, packed into
// one cache line of a shared-memory segment (per-process statistics in a shared stats
// area, as multi-process servers keep them).
//   bad:   the counters are a packed int64_t[8]: one 64-byte line for all processes.
//   fixed: each process's counter sits in its own 64-byte line.
// Each process maps the segment at its own address: ccprof must see one cache line
// (not one per process), written by every process.
#include <cstdint>

#include "process_shared.h"

using namespace ccprof::workloads;

constexpr int kMaxProcesses = 8;
constexpr int kBurst = 1 << 16;

struct alignas(64) PaddedCounter {
  volatile int64_t value;
};

struct Segment {
  std::atomic<bool> stop{false};
  uint64_t done[kMaxProcesses];
  alignas(64) volatile int64_t counters[kMaxProcesses];  // bad: 8 x 8 bytes = one cache line
  PaddedCounter padded[kMaxProcesses];                    // FIX: one counter per line
};

__attribute__((noinline)) void bump_shared_line(Segment& seg, int slot) {
  for (int i = 0; i < kBurst; ++i) {
    seg.counters[slot] = seg.counters[slot] + 1;  // PROBLEM: the processes' counters share this cache line
  }
}

__attribute__((noinline)) void bump_padded(Segment& seg, int slot) {
  for (int i = 0; i < kBurst; ++i) {
    seg.padded[slot].value = seg.padded[slot].value + 1;  // FIX: own cache line
  }
}

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv, 4, kMaxProcesses);
  return run_worker_processes<Segment>(
      options, "increments", [](Segment&) {},
      [&options](Segment& seg, int slot) {
        uint64_t bursts = 0;
        while (!seg.stop.load(std::memory_order_relaxed)) {
          if (options.bad())
            bump_shared_line(seg, slot);
          else
            bump_padded(seg, slot);
          ++bursts;
        }
        return bursts * kBurst;
      });
}
