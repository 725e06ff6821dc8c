#pragma once
// Saves a recording to a temporary file and loads it back (the model tests' seam).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "model/recording.h"

namespace ccprof::model {

inline std::string temp_recording_path(const std::string& name) {
  return std::string(::testing::TempDir()) + "/" + name + "." + std::to_string(getpid()) + ".ccprof";
}

inline absl::StatusOr<Recording> round_trip(const Recording& rec, const std::string& name) {
  const std::string path = temp_recording_path(name);
  if (auto s = save_recording(rec, path); !s.ok()) return s;
  auto back = load_recording(path);
  std::remove(path.c_str());
  return back;
}

// A 2 s recording (from 10 s) of process `pid` with the threads `threads` (tid, comm),
// alive throughout: the start of the rule tests' synthetic recordings.
inline Recording two_second_recording(const std::vector<std::pair<uint32_t, std::string>>& threads,
                                      uint32_t pid = 100) {
  constexpr uint64_t kSec = 1'000'000'000ull;
  Recording r;
  r.start_ns = 10 * kSec;
  r.end_ns = 12 * kSec;
  ProcessInfo p;
  p.pid = pid;
  r.processes.push_back(p);
  for (const auto& [tid, comm] : threads) r.threads.push_back({tid, pid, comm, r.start_ns, r.end_ns});
  return r;
}

// `waits` waits of `wait_s` seconds in all by each of threads first_tid.. first_tid +
// threads - 1 on the futex at `uaddr` (word value `val`), the owner being the next
// thread, with the kernel's exact totals for that address.
inline void add_lock_waits(Recording& r, uint64_t uaddr, uint32_t first_tid, int threads, double wait_s, int waits,
                           uint32_t val = 2) {
  FutexAddrStats a;
  a.uaddr = uaddr;
  a.pid = r.processes.empty() ? 100 : r.processes[0].pid;
  for (int i = 0; i < threads; ++i)
    for (int k = 0; k < waits; ++k) {
      FutexWait w;
      w.uaddr = uaddr;
      w.pid = a.pid;
      w.tid = first_tid + i;
      w.owner_tid = first_tid + (i + 1) % threads;
      w.expected = val;
      w.start_ns = r.start_ns + k * 1000;
      w.duration_ns = static_cast<uint64_t>(wait_s * 1e9 / waits);
      r.futex_waits.push_back(w);
      a.waits++;
      a.wait_ns += w.duration_ns;
      a.max_wait_ns = std::max(a.max_wait_ns, w.duration_ns);
    }
  r.futex_addrs.push_back(a);
}

// `threads` workers (tids 100...) alive for 2 s; each waits `per_thread_wait_s` for the
// mutex at 0x5000 in `waits` waits (futex word `val`), the owner being the next thread.
inline Recording lock_contention_recording(int threads, double per_thread_wait_s, int waits, uint32_t val = 2) {
  std::vector<std::pair<uint32_t, std::string>> tids;
  for (int i = 0; i < threads; ++i) tids.push_back({100u + i, "worker"});
  Recording r = two_second_recording(tids);
  add_lock_waits(r, 0x5000, 100, threads, per_thread_wait_s, waits, val);
  return r;
}

}  // namespace ccprof::model
