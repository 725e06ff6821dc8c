#pragma once
// The sched collector's CPU timeline (bpf/sched.bpf.c, run_*): every run of a target
// thread on a CPU with the run-queue wait before it, drained from its own ring buffer
// into Recording::sched_timeline (model/sections.h), which the chrome-trace export
// draws. Bounded by a budget of runs per CPU per second; what it drops is counted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/bpf_map.h"
#include "agent/collector.h"
#include "model/recording.h"

struct sched_bpf;

namespace ccprof::agent {

struct SchedTimelineOptions {
  // Runs recorded per CPU per second. A run is one 48-byte record in the recording and
  // three Trace Event objects (~400 bytes of JSON) in a chrome-trace export, so 20000/s
  // on 2 CPUs is ~2 MB/s of recording and ~16 MB/s of trace: a 10 s profile stays well
  // within what Perfetto and chrome://tracing load. On the busy 2-CPU VM, 2 s of s01,
  // s07 and s08 bad fit (1052, 9079, 20136 runs); s14 bad, one switch per item, went
  // over it (8912 of 25782 runs not recorded, counted): docs/export-formats.md.
  uint64_t runs_per_s = 20000;  // 0: no timeline (the always-on mode)
  // The budget is spent per 100 ms window (runs_per_s / 10 each), so a thread that
  // switches faster than the budget loses the end of each 100 ms, not whole seconds.
  uint64_t window_ns = 100'000'000;
  // A thread back on the same CPU this soon after it left, with no other target thread
  // there in between, continues its run (nothing is sent). 20 µs is below what a
  // timeline shows at any zoom that fits a 1 ms wait, and the folded gaps are kept
  // (ThreadRun::coalesced_ns), so the running time stays exact.
  uint64_t coalesce_ns = 20'000;
};

class SchedTimeline {
 public:
  // Before load: the budget and coalescing into the program's read-only data.
  static void configure(sched_bpf* skel, const SchedTimelineOptions& opts);
  // After load: maps the ring buffer.
  absl::Status open(sched_bpf* skel, const SchedTimelineOptions& opts);
  // Moves the runs the kernel sent into the section (cheap, every drain).
  void drain();
  // Hands the section over to `rec` with the loss counters (the part since the last
  // hand-over). When `last`, the runs not sent yet are read from the kernel's map too:
  // a run still on its CPU ends at `now` (ThreadRun::kOpen), one of a thread that exited
  // unseen at its exit (`threads`' exited_ns). Then the next window starts empty.
  void hand_over(model::Recording& rec, uint64_t now, const std::vector<model::SchedThread>& threads, bool last);
  uint64_t drops() const;

 private:
  static int on_run(void* ctx, void* data, size_t size);
  void read_pending(uint64_t now, const std::vector<model::SchedThread>& threads);

  sched_bpf* skel_ = nullptr;
  RingBufferPtr ring_;
  model::SchedTimelineSection section_;
  SinceLastCut<std::string> loss_part_;
};

}  // namespace ccprof::agent
