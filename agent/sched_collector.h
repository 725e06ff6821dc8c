#pragma once
// The scheduler/syscall collector (bpf/sched.bpf.c): per-thread on/off-CPU time,
// run-queue delay, switches, thread creation and exit, time per syscall class, the
// syscall each thread is in now (the shared ccprof_thread_states map the futex
// collector reads), long blocking syscalls with sampled user stacks, and the
// target's RSS over time. Writes Recording::sched (model/sections.h).
#include <cstdint>
#include <memory>

#include "agent/collector.h"
#include "agent/sched_timeline.h"

namespace ccprof::agent {

struct SchedOptions {
  // A blocking syscall (io, sleep, poll) at least this long is recorded one by one;
  // shorter ones are only counted. 1 ms: an I/O wait that long under a lock is what
  // scenario 13 is about, and far longer than a cached read (~µs).
  uint64_t long_syscall_ns = 1'000'000;
  uint32_t stacks_per_window = 4;      // stack copies per (process, syscall, call site) per window
  uint64_t window_ns = 100'000'000;    // 100 ms: at most 40 copies/s per call site
  uint64_t rss_interval_ns = 100'000'000;  // RSS sample period (from /proc/PID/statm)
  SchedTimelineOptions timeline;           // every run of every thread (chrome-trace export)
};

std::unique_ptr<Collector> make_sched_collector(const SchedOptions& opts);

}  // namespace ccprof::agent
