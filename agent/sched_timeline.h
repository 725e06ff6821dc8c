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
  // Runs recorded per second over all CPUs (each CPU gets its share). A run is one
  // 48-byte record in the recording: 2500/s is at most 7.2 MB per minute, which keeps a
  // busy server's recording under the 20 MB/min budget (memcached under load was
  // 7.8 MB/min without the timeline; 20000/s per CPU, the first budget, made it
  // 103 MB/min). s01 bad (~530 runs/s on 2 CPUs) fits; switch-heavy programs (s07,
  // s08, s14 bad: 4.5k-12k runs/s) lose the excess, counted and left blank on the
  // track: docs/export-formats.md.
  uint64_t runs_per_s = 2500;  // 0: no timeline (the always-on mode)
  // The budget is spent per 10 s window (10 x runs_per_s each): a short profile (a test,
  // a 2 s s01 bad at ~3k runs/s) is recorded whole, and a long one stays within the
  // per-minute bound; a program that switches faster loses the end of each window.
  uint64_t window_ns = 10'000'000'000ull;
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
