#pragma once
// The index: what the rules read, built once from a Recording before any rule runs.
//
//   Recording (model/) --build_index--> Index --rules (profiler/rule.h)--> Findings
//                                         \--build_tables (profiler/tables.h)--> report tables
//
// It holds typed views of the recording: one thread table, the lock table, the lock
// rates, the decoded memory accesses and their cache-line table, and the symbol and
// stack lookups (libdw). Rules only read it; tests build one by hand (`Index idx(rec)`
// and fill the views they need) without a kernel, a symbolizer or a real binary.
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include "model/recording.h"
#include "profiler/address_yield.h"
#include "profiler/cacheline_table.h"
#include "profiler/finding.h"
#include "profiler/lock_holds.h"
#include "profiler/lock_rates.h"
#include "profiler/lock_table.h"
#include "profiler/shared_objects.h"
#include "profiler/symbolizer.h"
#include "profiler/unwinder.h"

namespace ccprof::profiler {

// One row per thread of the profile, with one lifetime rule for every rule and table:
// from its creation (or the profile's start) to its exit (or the profile's end).
struct ThreadRow {
  uint32_t tid = 0, pid = 0;
  std::string comm;
  uint64_t start_ns = 0, end_ns = 0;  // clipped to the profile
  bool created_in_profile = false, exited_in_profile = false;
  double lifetime_s = 0;
  const SchedThread* sched = nullptr;  // what the sched collector measured, when it ran
};

class ThreadTable {
 public:
  ThreadTable() = default;
  // From the recording's threads and, for threads only the sched collector saw, its rows.
  explicit ThreadTable(const Recording& rec);
  // Adds or replaces a row (tests; threads the recording lacks).
  void add(ThreadRow row);
  const ThreadRow* find(uint32_t tid) const;
  double lifetime_s(uint32_t tid) const;
  std::string comm(uint32_t tid) const;
  double total_s() const { return total_s_; }
  const std::vector<ThreadRow>& rows() const { return rows_; }

 private:
  std::vector<ThreadRow> rows_;
  std::map<uint32_t, size_t> by_tid_;
  double total_s_ = 0;
};

// The memory sampler's samples, decoded into data accesses.
struct MemoryIndex {
  CacheLineTable lines;                         // shared data only (not the thread's stack/TLS)
  std::vector<MemoryAccess> accesses;           // the same accesses, in sample order
  std::map<uint32_t, uint64_t> thread_samples;  // every sample per thread (with an address or not)
  uint64_t samples = 0, with_address = 0, private_stack_or_tls = 0;
  uint64_t with_frame_callers = 0;  // accesses whose callers the frame-pointer chain named
  std::map<std::string, uint64_t> no_address;   // why samples had no data address
  AddressYield yield;                           // the same per module, and what the decoder recovered
  double period_s = 0;                          // CPU seconds per sample (decode mode); 0 = unknown
  // Data outside any global, named by the type of the pointer the accessing instruction
  // dereferenced (data_naming.h): (pid, address) -> "worker_args.sum_x (via args)".
  std::map<std::pair<uint32_t, uint64_t>, std::string> typed_names;
};

class Index {
 public:
  // An empty index over `rec`: no locks, no rates, no accesses (tests fill what they need).
  explicit Index(const Recording& rec);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  const Recording& rec;
  ThreadTable threads;
  SharedObjects shared;  // objects several processes map: one lock / one line each
  std::vector<LockInfo> locks;  // by total wait, descending
  std::vector<LockRate> lock_rates;
  std::vector<LockHold> lock_holds;  // critical sections measured (empty when not measured)
  MemoryIndex memory;
  const SchedSection* sched() const { return rec.has_sched ? &rec.sched : nullptr; }

  // Symbols and stacks. Lookups are cached, so they are logically const.
  Symbolizer* symbolizer(uint32_t pid) const;  // nullptr when the process is not recorded
  // Frames of Recording::stacks[i], innermost first (unwound once, cached).
  const std::vector<Frame>& frames(int stack_index) const;
  // The first frame outside system libraries/headers: the user's call site; nullptr
  // when the stack has none (or did not unwind).
  const Frame* user_frame(int stack_index) const;
  // The user frames of a stack, innermost first.
  std::vector<const Frame*> user_frames(int stack_index) const;
  const CodeLocation& code(uint32_t pid, uint64_t pc) const;
  DataLocation data(uint32_t pid, uint64_t addr) const;

  double total_thread_seconds() const { return threads.total_s(); }
  std::string comm(uint32_t tid) const { return threads.comm(tid); }
  double thread_lifetime_s(uint32_t tid) const { return threads.lifetime_s(tid); }
  double cost_share(double thread_s) const;  // of all thread-seconds, capped to [0, 1]
  // The lock table's key of a futex address: the canonical process and address for a
  // lock in memory several processes share (shared_objects.h), else (pid, uaddr).
  std::pair<uint32_t, uint64_t> lock_key(uint32_t pid, uint64_t uaddr) const;
  const LockInfo* lock(uint32_t pid, uint64_t uaddr) const;
  const LockHold* lock_hold(uint32_t pid, uint64_t uaddr) const;  // nullptr when not measured

  // What the index could not resolve (merged into the report's losses).
  mutable LossCounters losses;

 private:
  mutable std::map<uint32_t, std::unique_ptr<Symbolizer>> syms_;
  // A stack's symbolized frames, once per distinct stack: the agent unwinds each copy
  // into a shared frame list (Recording::stack_frames), and a busy server's thousands
  // of copies name a few hundred lists. Key: (pid, frame list, -1), or (pid, -1, stack)
  // for a copy unwound here from its raw bytes.
  struct Unwound {
    std::vector<Frame> frames;
    const char* loss = nullptr;  // counted for every copy that names it
    std::optional<const Frame*> user_frame;  // user_frame(), found once
  };
  mutable std::map<std::tuple<uint32_t, int32_t, int>, Unwound> unwound_;
  // Stack copy -> its frames (nullptr: not looked up yet; each copy's loss is counted
  // at its first lookup).
  struct CopyFrames {
    const std::vector<Frame>* frames = nullptr;
    Unwound* unwound = nullptr;  // frames' owner, when it has one
  };
  mutable std::vector<CopyFrames> frames_;
};

// Builds every view of the index from the recording.
std::unique_ptr<Index> build_index(const Recording& rec);

}  // namespace ccprof::profiler
