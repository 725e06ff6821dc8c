#pragma once
// A Collector owns one BPF object (or one family of perf events) and turns what it
// collects into the Recording. The Session drives every collector the same way.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/bpf_map.h"
#include "agent/unique_fd.h"

struct bpf_map;
#include "model/recording.h"

namespace ccprof::agent {

// Maps that every BPF object shares (created once by the Session, reused by fd).
struct SharedMaps {
  int tgids_fd = -1;          // ccprof_tgids: u32 tgid -> u8
  // ccprof_thread_states: task storage of ccprof_thread_state. Created by the futex
  // collector's object (task storage needs BTF) and handed over by its share().
  int thread_states_fd = -1;
  // The futex collector's raw sys_enter/sys_exit programs (loaded, not attached when the
  // sched collector runs): the sched collector's syscall programs tail-call them, so a
  // futex syscall is traced once. Filled by the futex collector's share().
  int futex_sys_enter_prog = -1;
  int futex_sys_exit_prog = -1;
  // The futex collector's last_wakes (bpf/futex_wake.bpf.h): the sched collector's
  // sys_enter records the futex wakes in it itself, rather than tail-calling for them.
  int last_wakes_fd = -1;
  // ...and its per-address wait totals (bpf/futex_totals.bpf.h): the sched collector's
  // sys_exit counts the waits whose event is not sent there itself.
  int addr_stats_fd = -1;
  int addr_overflow_fd = -1;
  // ccprof_sole_tgid: one u32, the target's tgid while it is the only one, 0 once the
  // futex collector follows a child process (bpf/common.bpf.h). Made with ccprof_tgids
  // by make_target_maps. Without it (-1) each object keeps its own, 0: the filters then
  // look the tgid up in the set.
  int sole_tgid_fd = -1;
};

// The session's target filter: ccprof_tgids and ccprof_sole_tgid, each holding `target`.
struct TargetMaps {
  UniqueFd tgids, sole_tgid;
  SharedMaps shared() const {
    SharedMaps m;
    m.tgids_fd = tgids.get();
    m.sole_tgid_fd = sole_tgid.get();
    return m;
  }
};
absl::StatusOr<TargetMaps> make_target_maps(uint32_t target);

// Makes a skeleton's copies of the shared maps use the session's (before load).
// `who` names the collector in the error.
absl::Status share_maps(bpf_map* tgids, bpf_map* sole_tgid, bpf_map* thread_states, const SharedMaps& shared,
                        const char* who);

// Opens a collector's BPF skeleton (e.g. futex_bpf__open) and makes its shared maps the
// session's. The caller then sets its read-only data and calls load_skeleton.
template <typename Skeleton, auto Destroy>
absl::Status open_skeleton(SkeletonPtr<Skeleton, Destroy>& skel, Skeleton* (*open)(), const SharedMaps& shared,
                           const char* who) {
  skel.reset(open());
  if (!skel) return absl::InternalError(absl::StrCat(who, ": cannot open BPF object: ", strerror(errno)));
  return share_maps(skel->maps.ccprof_tgids, skel->maps.ccprof_sole_tgid, skel->maps.ccprof_thread_states, shared,
                    who);
}

// Loads the skeleton (the kernel's verifier runs here).
template <typename Skeleton, auto Destroy>
absl::Status load_skeleton(SkeletonPtr<Skeleton, Destroy>& skel, int (*load)(Skeleton*), const char* who) {
  if (int e = load(skel.get()))
    return absl::InternalError(absl::StrCat(who, ": the kernel rejected the BPF program: ", strerror(-e)));
  return absl::OkStatus();
}

// Totals the kernel keeps from the attach on, handed out as the part since the previous
// hand-over (the window cuts of `ccprof serve`; a single hand-over gets the whole total).
// A total that went down (a tid reused, an entry deleted and made again) starts over.
template <typename Key>
class SinceLastCut {
 public:
  uint64_t operator()(const Key& key, uint64_t total) {
    uint64_t& base = base_[key];
    const uint64_t part = total >= base ? total - base : total;
    base = total;
    return part;
  }

 private:
  std::map<Key, uint64_t> base_;
};

class Collector {
 public:
  virtual ~Collector() = default;
  virtual const char* name() const = 0;
  // open -> set read-only data -> reuse the shared maps -> load -> attach, each step checked.
  virtual absl::Status start(const SharedMaps& shared) = 0;
  // After a successful start: what this collector offers the collectors started after it.
  virtual void share(SharedMaps&) const {}
  // Called every ~20 ms: move what the kernel has into the recording (cheap, no blocking).
  virtual void drain(model::Recording& rec) = 0;
  // Called once at the end: final drain, read the in-kernel aggregates and loss counters
  // (as "NAME.counter" entries in rec.losses), detach.
  virtual void finish(model::Recording& rec) = 0;
  // A window cut (`ccprof serve`): hands over into `rec` what was collected since the
  // last cut (or the start), as finish() does, kernel totals and loss counters as the
  // part since the last cut, and keeps collecting: nothing is detached, so no event
  // falls between two windows. finish() may still follow.
  virtual void cut(model::Recording& rec) = 0;
  // After each drain and reduction: `sample_cpu_s` is the drain thread's CPU spent on
  // memory samples' stack windows in this window so far. The memory sampler keeps its
  // rate under its CPU budget with it (agent/sampler_budget.h); the others ignore it.
  virtual void pace(uint64_t /*now_ns*/, double /*sample_cpu_s*/) {}
  // At a window's end (after finish() or cut() and the last reduction): the memory
  // sampler thins the window's samples to the lowest rate it used.
  virtual void settle(model::Recording&) {}
  // A count that moves when a target may have changed what /proc shows of it (a
  // mapping, an exec, a thread created, exited or renamed), for the session's /proc
  // snapshots; nullopt from collectors that do not watch for that.
  virtual std::optional<uint64_t> process_changes() const { return std::nullopt; }
  // For the status line.
  virtual uint64_t events() const = 0;
  virtual uint64_t drops() const = 0;
};

}  // namespace ccprof::agent
