#include "agent/lockrate_collector.h"
#include "agent/bpf_map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/proc.h"
#include "bpf/lockrate.h"
#include "lockrate.skel.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {
namespace {


class LockRateCollector : public Collector {
 public:
  explicit LockRateCollector(const LockRateOptions& o) : opts_(o) {}
  const char* name() const override { return "lockrate"; }

  absl::Status start(const SharedMaps& shared) override {
    if (auto s = open_skeleton(skel_, &lockrate_bpf__open, shared, "lockrate collector"); !s.ok()) return s;
    if (auto s = load_skeleton(skel_, &lockrate_bpf__load, "lockrate collector"); !s.ok()) return s;
    start_ns_ = monotonic_ns();
    next_window_ns_ = start_ns_ + opts_.first_window_ns;
    return absl::OkStatus();
  }

  void drain(model::Recording& rec) override {
    uint64_t now = monotonic_ns();
    if (link_) {
      if (now >= window_end_ns_) close_window(now);
      return;
    }
    if (now < next_window_ns_ || failed_) return;
    next_window_ns_ = now + opts_.period_ns;
    if (libc_.empty() && !find_libc()) return;
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "pthread_mutex_lock");
    // The path as the target sees it: in a container, its libc is under its own root.
    const std::string in_root = absl::StrCat("/proc/", opts_.target_pid, "/root", libc_);
    bpf_link* l = bpf_program__attach_uprobe_opts(skel_->progs.lockrate_mutex_lock,
                                                  static_cast<pid_t>(opts_.target_pid), in_root.c_str(), 0, &uo);
    if (!l) {
      spdlog::debug("lockrate: cannot attach a uprobe to {}:pthread_mutex_lock: {}", libc_, strerror(errno));
      failed_ = true;
      rec.losses["lockrate.uprobe_attach_failed"]++;
      return;
    }
    link_.reset(l);
    window_start_ns_ = monotonic_ns();
    window_end_ns_ = window_start_ns_ + opts_.window_ns;
  }

  void finish(model::Recording& rec) override {
    if (link_) close_window(monotonic_ns());
    model::LockRateSection& sec = rec.lockrate;
    for_each_map_entry<lockrate_key, uint64_t>(bpf_map__fd(skel_->maps.lock_calls),
                                               [&](const lockrate_key& key, uint64_t n) {
                                                 sec.entries.push_back({key.tgid, key.tid, key.lock, key.caller, n});
                                               });
    rec.has_lockrate = true;
    sec.window_s = window_total_ns_ / 1e9;
    sec.windows = windows_;
    sec.intervals_ns = intervals_;
    sec.libc = libc_;
    if (skel_->bss->counters.map_full) rec.losses["lockrate.map_full"] += skel_->bss->counters.map_full;
    skel_.reset();
  }

  uint64_t events() const override { return 0; }
  uint64_t drops() const override { return 0; }

 private:
  bool find_libc() {
    auto maps = read_maps(opts_.target_pid);
    if (!maps.ok()) return false;
    for (const auto& m : *maps)
      if (absl::StrContains(m.path, "/libc.so") || absl::StrContains(m.path, "/libc-2.")) {
        libc_ = m.path;
        return true;
      }
    return false;  // statically linked or not mapped yet: try at the next window
  }

  void close_window(uint64_t now) {
    link_.reset();  // detaches: from here on the target runs without traps
    window_total_ns_ += now - window_start_ns_;
    windows_++;
    intervals_.push_back({window_start_ns_, now});
  }

  LockRateOptions opts_;
  SkeletonPtr<lockrate_bpf, &lockrate_bpf__destroy> skel_;
  LinkPtr link_;
  std::string libc_;
  bool failed_ = false;
  uint64_t start_ns_ = 0, next_window_ns_ = 0, window_start_ns_ = 0, window_end_ns_ = 0, window_total_ns_ = 0;
  uint64_t windows_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> intervals_;  // [start, end) of each window
};

}  // namespace

std::unique_ptr<Collector> make_lockrate_collector(const LockRateOptions& opts) {
  return std::make_unique<LockRateCollector>(opts);
}

}  // namespace ccprof::agent
