#include "agent/lockrate_collector.h"
#include "agent/bpf_map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/elf_symbol.h"
#include "agent/proc.h"
#include "agent/stack_events.h"
#include "bpf/lockrate.h"
#include "lockrate.skel.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {
namespace {


class LockRateCollector : public Collector {
 public:
  explicit LockRateCollector(const LockRateOptions& o) : opts_(o) {}
  ~LockRateCollector() override { join_detacher(); }
  const char* name() const override { return "lockrate"; }

  absl::Status start(const SharedMaps& shared) override {
    if (auto s = open_skeleton(skel_, &lockrate_bpf__open, shared, "lockrate collector"); !s.ok()) return s;
    if (auto s = load_skeleton(skel_, &lockrate_bpf__load, "lockrate collector"); !s.ok()) return s;
    start_ns_ = monotonic_ns();
    next_window_ns_ = start_ns_ + opts_.first_window_ns;
    // The holders' stacks (bpf/lockrate.h): copies, and the holds that name them.
    return rings_.open(bpf_map__fd(skel_->maps.holder_samples), bpf_map__fd(skel_->maps.holder_stacks), on_sample,
                       this, "lockrate collector");
  }

  void drain(model::Recording& rec) override {
    rec_ = &rec;
    rings_.drain(rec);
    uint64_t now = monotonic_ns();
    if (link_) {
      if (now >= window_end_ns_) close_window(now);
      return;
    }
    if (now < next_window_ns_ || failed_) return;
    next_window_ns_ = now + opts_.period_ns;
    if (libc_.empty() && !find_libc()) return;
    join_detacher();  // the last window's probes are gone before this one's are attached
    // A new generation first: what the last window left in the per-thread maps (locks
    // taken before it closed) must not be read as this window's.
    skel_->bss->generation++;
    // The programs count nothing until window_start_ns is set, after every probe is
    // attached (bpf/lockrate.bpf.c).
    // Critical sections in the first window and every hold_every-th after it: their
    // seven extra uprobes keep trapping while they are detached (see close_window).
    timing_holds_ = windows_ % opts_.hold_every == 0;
    for (const Probe& p : timing_holds_ ? hold_probes() : std::vector<Probe>{}) {
      bpf_link* l = attach(p.prog, p.func, p.retprobe);
      if (!l) {
        spdlog::debug("lockrate: cannot attach a {} to {}:{}: {}", p.retprobe ? "uretprobe" : "uprobe", libc_, p.func,
                      strerror(errno));
        rec.losses["lockrate.hold_probe_attach_failed"]++;
        continue;  // holds stay unmeasured for that path; the call counts still work
      }
      hold_links_.emplace_back(l);
    }
    bpf_link* l = attach(skel_->progs.lockrate_mutex_lock, "pthread_mutex_lock", false);
    if (!l) {
      spdlog::debug("lockrate: cannot attach a uprobe to {}:pthread_mutex_lock: {}", libc_, strerror(errno));
      failed_ = true;
      hold_links_.clear();
      rec.losses["lockrate.uprobe_attach_failed"]++;
      return;
    }
    link_.reset(l);
    window_start_ns_ = monotonic_ns();
    spdlog::debug("lockrate: {} uprobes attached in {:.1f} ms", hold_links_.size() + 1, (window_start_ns_ - now) / 1e6);
    skel_->bss->timing_holds = timing_holds_ ? 1 : 0;
    skel_->bss->window_start_ns = window_start_ns_;
    window_end_ns_ = window_start_ns_ + opts_.window_ns;
  }

  void finish(model::Recording& rec) override {
    hand_over(rec);
    skel_.reset();
  }

  // The probes count only inside this collector's own sampling windows: a cut closes the
  // open one (its part is in this window), then the maps start empty for the next.
  void cut(model::Recording& rec) override {
    hand_over(rec);
    if (!skel_) return;
    // Nothing counts now (window closed, uprobes detached): emptying the maps races with nothing.
    for (bpf_map* m : {skel_->maps.lock_calls, skel_->maps.lock_holds, skel_->maps.lock_order}) clear_map(m);
    zero_percpu<lockrate_counters>(bpf_map__fd(skel_->maps.counters));
    holder_seq_base_ = skel_->bss->holder_stack_seq_next;
    holder_paired_ = 0;
    rings_.start_window();
    windows_ = hold_windows_ = window_total_ns_ = hold_window_ns_ = 0;
    intervals_.clear();
    open_clipped_.clear();
  }

  uint64_t events() const override { return 0; }
  uint64_t drops() const override { return 0; }

 private:
  static void clear_map(bpf_map* m) {
    const int fd = bpf_map__fd(m);
    std::vector<char> key(bpf_map__key_size(m));
    while (bpf_map_get_next_key(fd, nullptr, key.data()) == 0)
      if (bpf_map_delete_elem(fd, key.data()) != 0) break;
  }

  void hand_over(model::Recording& rec) {
    if (!skel_) return;
    if (link_) close_window(monotonic_ns());
    drain_samples(rec);
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
    const auto counters = sum_percpu<lockrate_counters>(bpf_map__fd(skel_->maps.counters));
    if (counters.map_full) rec.losses["lockrate.map_full"] += counters.map_full;
    finish_holds(rec);
  }

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

  struct Probe {
    bpf_program* prog;
    const char* func;
    bool retprobe;
  };
  std::vector<Probe> hold_probes() const {
    // In the order they are detached: the most often hit first.
    return {{skel_->progs.lockrate_mutex_lock_ret, "pthread_mutex_lock", true},
            {skel_->progs.lockrate_mutex_unlock, "pthread_mutex_unlock", false},
            {skel_->progs.lockrate_mutex_trylock, "pthread_mutex_trylock", false},
            {skel_->progs.lockrate_mutex_trylock_ret, "pthread_mutex_trylock", true},
            {skel_->progs.lockrate_cond_wait, "pthread_cond_wait", false},
            {skel_->progs.lockrate_cond_wait, "pthread_cond_timedwait", false},
            {skel_->progs.lockrate_cond_wait, "pthread_cond_clockwait", false}};
  }

  bpf_link* attach(bpf_program* prog, const char* func, bool retprobe) {
    // By file offset: libbpf 1.1 finds glibc's versioned duplicates ambiguous by name.
    // The path as the target sees it: in a container, its libc is under its own root.
    const std::string in_root = absl::StrCat("/proc/", opts_.target_pid, "/root", libc_);
    auto it = offsets_.find(func);
    if (it == offsets_.end()) {
      auto off = default_function_offset(in_root, func);
      if (!off.ok()) spdlog::debug("lockrate: {}", std::string(off.status().message()));
      it = offsets_.emplace(func, off.ok() ? *off : 0).first;
    }
    if (!it->second) {
      LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = retprobe, .func_name = func);
      return bpf_program__attach_uprobe_opts(prog, static_cast<pid_t>(opts_.target_pid), in_root.c_str(), 0, &uo);
    }
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = retprobe);
    return bpf_program__attach_uprobe_opts(prog, static_cast<pid_t>(opts_.target_pid), in_root.c_str(), it->second, &uo);
  }

  // Holds still open when a window closes: their part inside it counts towards the
  // share of time held (clipped), never towards the distribution.
  void clip_open_holds(uint64_t now) {
    uint64_t gen = skel_->bss->generation;
    for_each_map_entry<uint32_t, held_set>(bpf_map__fd(skel_->maps.held), [&](const uint32_t&, const held_set& h) {
      if (h.generation != gen) return;
      for (uint32_t i = 0; i < h.n && i < LOCKHOLD_MAX_HELD; ++i) {
        if (!h.since[i] || h.since[i] >= now) continue;  // 0: a condvar wait released it
        auto& c = open_clipped_[{h.tgid, h.lock[i], h.caller[i]}];
        c.first++;
        c.second += now - h.since[i];
      }
    });
  }

  void finish_holds(model::Recording& rec) {
    model::LockHoldSection& sec = rec.lockhold;
    sec.hist_sub_bits = LOCKHOLD_SUB_BITS;
    sec.window_s = hold_window_ns_ / 1e9;
    sec.windows = hold_windows_;
    std::map<std::tuple<uint32_t, uint64_t, uint64_t>, size_t> at;
    for_each_map_entry<lockhold_key, lockhold_stat>(
        bpf_map__fd(skel_->maps.lock_holds), [&](const lockhold_key& k, const lockhold_stat& st) {
          model::LockHoldSite s;
          s.pid = k.tgid;
          s.lock = k.lock;
          s.caller = k.caller;
          s.holds = st.holds;
          s.hold_ns = st.hold_ns;
          s.max_ns = st.max_ns;
          s.clipped = st.clipped;
          s.clipped_ns = st.clipped_ns;
          for (uint32_t b = 0; b < LOCKHOLD_BUCKETS; ++b)
            if (st.hist[b]) s.hist.push_back({b, st.hist[b]});
          at[{k.tgid, k.lock, k.caller}] = sec.sites.size();
          sec.sites.push_back(std::move(s));
        });
    for (const auto& [k, c] : open_clipped_) {
      auto it = at.find(k);
      if (it == at.end()) {
        model::LockHoldSite s;
        std::tie(s.pid, s.lock, s.caller) = k;
        it = at.emplace(k, sec.sites.size()).first;
        sec.sites.push_back(std::move(s));
      }
      sec.sites[it->second].clipped += c.first;
      sec.sites[it->second].clipped_ns += c.second;
    }
    for_each_map_entry<lockorder_key, uint64_t>(bpf_map__fd(skel_->maps.lock_order),
                                                [&](const lockorder_key& k, uint64_t n) {
                                                  sec.order.push_back({k.tgid, k.tid, k.first, k.first_caller, k.second,
                                                                       k.second_caller, k.trylock != 0, n});
                                                });
    const auto c = sum_percpu<lockrate_counters>(bpf_map__fd(skel_->maps.counters));
    if (c.hold_map_full) rec.losses["lockhold.map_full"] += c.hold_map_full;
    if (c.order_map_full) rec.losses["lockhold.order_map_full"] += c.order_map_full;
    if (c.nested_too_deep) rec.losses["lockhold.nested_too_deep"] += c.nested_too_deep;
    if (c.holds_through_condvar) rec.losses["lockhold.through_condvar"] += c.holds_through_condvar;
    if (c.holder_stacks_not_sampled) rec.losses["lockhold.holder_stack_not_sampled"] += c.holder_stacks_not_sampled;
    if (c.holder_stack_events_dropped)
      rec.losses["lockhold.holder_stack_ringbuf_full"] += c.holder_stack_events_dropped;
    if (c.holder_stack_copy_failed) rec.losses["lockhold.holder_stack_copy_failed"] += c.holder_stack_copy_failed;
    if (c.holder_samples_dropped) rec.losses["lockhold.holder_sample_ringbuf_full"] += c.holder_samples_dropped;
    // Copies whose hold was never timed: the lock was not acquired (a busy trylock), a
    // condvar wait released it, or it was still held when the window closed.
    const uint64_t copies = skel_->bss->holder_stack_seq_next - holder_seq_base_;
    if (copies > holder_paired_) rec.losses["lockhold.holder_stack_unpaired"] += copies - holder_paired_;
    rec.has_lockhold = hold_windows_ > 0;
  }

  // The last holds and copies of the windows, into rec (stacks before the holds naming them).
  void drain_samples(model::Recording& rec) {
    rec_ = &rec;
    rings_.drain(rec);
  }

  static int on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<LockRateCollector*>(ctx);
    if (size < sizeof(lockhold_sample) || !self->rec_) return 0;
    const auto* e = static_cast<const lockhold_sample*>(data);
    model::LockHoldSample s;
    s.pid = e->tgid;
    s.tid = e->tid;
    s.lock = e->lock;
    s.caller = e->caller;
    s.hold_ns = e->hold_ns;
    s.stack = self->rings_.stacks().index_of(e->stack_seq);
    if (s.stack < 0) {
      self->rec_->losses["lockhold.holder_stack_lost"]++;  // its copy was dropped or never arrived
      return 0;
    }
    self->holder_paired_++;
    self->rec_->lockhold.samples.push_back(s);
    return 0;
  }

  void close_window(uint64_t) {
    // Closed for the programs first (they count nothing from here), then detached:
    // detaching takes the kernel tens of ms, which must not count as window time.
    skel_->bss->window_start_ns = 0;
    skel_->bss->timing_holds = 0;
    uint64_t now = monotonic_ns();
    if (timing_holds_) clip_open_holds(now);
    // Detaching a uprobe waits for an RCU grace period (~100 ms each on this VM, one
    // after the other: the kernel serialises them, parallel threads did not help), all
    // that time trapping. The hot probes go first: lock entry, lock return, unlock. On
    // the drain thread those 0.8 s stalled every ring buffer (the futex collector
    // dropped ~40% of its wait events on s01): a background thread detaches them.
    std::vector<LinkPtr> links;
    links.push_back(std::move(link_));
    for (auto& l : hold_links_) links.push_back(std::move(l));
    hold_links_.clear();
    join_detacher();
    detacher_ = std::thread([links = std::move(links), now]() mutable {
      links.clear();
      spdlog::debug("lockrate: uprobes detached in {:.1f} ms", (monotonic_ns() - now) / 1e6);
    });
    window_total_ns_ += now - window_start_ns_;
    if (timing_holds_) {
      hold_window_ns_ += now - window_start_ns_;
      hold_windows_++;
    }
    windows_++;
    intervals_.push_back({window_start_ns_, now});
  }

  LockRateOptions opts_;
  SkeletonPtr<lockrate_bpf, &lockrate_bpf__destroy> skel_;
  void join_detacher() {
    if (detacher_.joinable()) detacher_.join();
  }

  LinkPtr link_;
  std::vector<LinkPtr> hold_links_;
  EventRings rings_;                  // the holders' stacks and the holds that name them
  model::Recording* rec_ = nullptr;   // where on_sample puts them (the current drain's)
  uint64_t holder_seq_base_ = 0;      // holder_stack_seq_next at the last cut
  uint64_t holder_paired_ = 0;        // copies a timed hold named since then
  std::thread detacher_;  // detaching the last window's uprobes (close_window)
  bool timing_holds_ = false;  // this window has the critical-section probes
  uint64_t hold_window_ns_ = 0, hold_windows_ = 0;
  std::map<std::string, uint64_t> offsets_;  // libc function -> file offset (0 = not found)
  std::map<std::tuple<uint32_t, uint64_t, uint64_t>, std::pair<uint64_t, uint64_t>> open_clipped_;  // (holds, ns)
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
