#pragma once
#include <memory>
#include <string>

#include "agent/collector.h"

namespace ccprof::agent {

struct FutexOptions {
  uint32_t stacks_per_window = 16;        // stack copies per lock per window
  uint64_t window_ns = 100'000'000;       // 100 ms
  bool follow_children = true;
  uint32_t target_pid = 0;                // where lock libraries' slow paths get uprobes (0: none)
  // `ccprof run`: the executable the held child will exec (absolute). Its own slow paths
  // (a lock library linked in statically: Rust's parking_lot, Abseil) get their uprobes
  // at start, before its first instruction, not at the first /proc scan after the exec.
  std::string target_exe;
  // The sched collector's syscall programs hand the futex syscalls over (tail calls):
  // the futex programs are loaded but not attached. False: they attach to the raw
  // syscall tracepoints themselves (`--no-sched`).
  bool syscalls_from_sched = false;
  // 1 in N waits without a stack copy sent from the start (a power of two; the
  // always-on mode); the agent's sampling stride starts there and doubles as before.
  uint64_t wait_stride = 1;
};

std::unique_ptr<Collector> make_futex_collector(const FutexOptions& opts);

}  // namespace ccprof::agent
