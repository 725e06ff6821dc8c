#include "agent/stack_events.h"
#include "agent/bpf_map.h"
#include "agent/futex_collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/cpython_frames.h"
#include "agent/lock_slow_paths.h"
#include "agent/proc.h"
#include "agent/stack_reduction.h"
#include "bpf/futex.h"
#include "futex.skel.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {
namespace {

using model::Recording;


// bpf/futex.h dispatches on x86-64 syscall numbers.
static_assert(FUTEX_NR_FUTEX == SYS_futex && FUTEX_NR_FUTEX_WAITV == 449 && FUTEX_NR_FUTEX_WAKE == 454 &&
                  FUTEX_NR_FUTEX_WAIT == 455,
              "the futex family's syscall numbers");
#ifdef SYS_futex_waitv
static_assert(FUTEX_NR_FUTEX_WAITV == SYS_futex_waitv, "futex_waitv");
#endif
#ifdef SYS_futex_wait
static_assert(FUTEX_NR_FUTEX_WAIT == SYS_futex_wait && FUTEX_NR_FUTEX_WAKE == SYS_futex_wake, "futex2");
#endif

static_assert(model::FutexWait::kOwnerPreempted == CCPROF_OWNER_PREEMPTED, "one value for a preempted owner");

class FutexCollector : public Collector {
 public:
  explicit FutexCollector(const FutexOptions& opts) : opts_(opts) {}
  const char* name() const override { return "futex"; }

  absl::Status start(const SharedMaps& shared) override {
    if (opts_.wait_stride == 0 || (opts_.wait_stride & (opts_.wait_stride - 1)))
      return absl::InvalidArgumentError("futex collector: the wait stride must be a power of two");
    if (auto s = open_skeleton(skel_, &futex_bpf__open, shared, "futex collector"); !s.ok()) return s;
    skel_->rodata->stacks_per_window = opts_.stacks_per_window;
    skel_->rodata->window_ns = opts_.window_ns;
    skel_->rodata->follow_children = opts_.follow_children ? 1 : 0;
    skel_->rodata->tail_called = opts_.syscalls_from_sched ? 1 : 0;
    keep_every_ = opts_.wait_stride;
    skel_->data->send_every = keep_every_;
    // One pair of programs owns the syscall path: with the sched collector, its raw
    // syscall programs tail-call these (SharedMaps::futex_sys_*_prog, share()).
    if (opts_.syscalls_from_sched) {
      bpf_program__set_autoattach(skel_->progs.futex_sys_enter, false);
      bpf_program__set_autoattach(skel_->progs.futex_sys_exit, false);
    }
    if (auto s = load_skeleton(skel_, &futex_bpf__load, "futex collector"); !s.ok()) {
      // The programs read a lock owner's state through the bpf_task_from_pid kfunc
      // (Linux 6.2): say so where the kernel is older, not only "Invalid argument".
      utsname u{};
      int major = 0, minor = 0;
      if (uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
          (major < 6 || (major == 6 && minor < 2)))
        return absl::FailedPreconditionError(absl::StrCat(s.message(), " (ccprof needs Linux 6.2 or newer; this kernel is ",
                                                          u.release, ")"));
      return s;
    }
    python_.start_sampler(opts_.target_pid);  // Python frames for the GIL waits (cpython_frames.h)
    if (int e = futex_bpf__attach(skel_.get()))
      return absl::InternalError(absl::StrCat("futex collector: cannot attach tracepoints: ", strerror(-e)));
    if (!opts_.target_exe.empty()) probe_module(opts_.target_exe);
    return rings_.open(bpf_map__fd(skel_->maps.events), bpf_map__fd(skel_->maps.stack_events), on_event, this,
                       "futex collector");
  }

  void share(SharedMaps& shared) const override {
    shared.futex_sys_enter_prog = bpf_program__fd(skel_->progs.futex_sys_enter);
    shared.thread_states_fd = bpf_map__fd(skel_->maps.ccprof_thread_states);
    shared.futex_sys_exit_prog = bpf_program__fd(skel_->progs.futex_sys_exit);
    shared.last_wakes_fd = bpf_map__fd(skel_->maps.last_wakes);
    shared.addr_stats_fd = bpf_map__fd(skel_->maps.addr_stats);
    shared.addr_overflow_fd = bpf_map__fd(skel_->maps.addr_overflow);
  }

  void drain(Recording& rec) override {
    rec_ = &rec;
    probe_lock_slow_paths(rec);
    rings_.drain(rec);
  }

  void finish(Recording& rec) override { hand_over(rec); }

  void cut(Recording& rec) override {
    hand_over(rec);
    // The next window starts with its own waits, stack copies and sampling stride.
    wait_seq_.clear();
    waits_seen_ = 0;
    keep_every_ = opts_.wait_stride;
    plain_received_ = 0;
    plain_kept_ = 0;
    first_wait_ns_ = 0;
    skel_->data->send_every = keep_every_;
    rings_.start_window();
  }

  uint64_t events() const override { return waits_seen_; }
  uint64_t drops() const override {
    if (!skel_) return 0;
    const auto c = sum_percpu<futex_counters>(bpf_map__fd(skel_->maps.counters));
    return c.wait_events_dropped + c.stack_events_dropped + c.start_map_full;
  }

 private:
  // What was collected since the last hand-over (the start, or serve's previous cut).
  void hand_over(Recording& rec) {
    drain(rec);
    rings_.drain_backlog(rec);
    // Link waits to their stack copies (a copy may arrive after its wait).
    for (size_t i = 0; i < wait_seq_.size(); ++i) {
      if (!wait_seq_[i]) continue;
      const int32_t stack = rings_.stacks().index_of(wait_seq_[i]);
      if (stack >= 0) rec.futex_waits[i].stack = stack;
      else rec.losses["futex.stack_copies_lost"]++;
    }
    // Waits the kernel's stride did not send still ended: they count as seen.
    rec.futex = {waits_seen_ + not_sent_part_(0, not_sent_total()), rec.futex_waits.size(), keep_every_};
    python_.finish(rec);
    // Exact totals from the kernel maps: the CPUs' copies (addr_stats) and the shared
    // entries made when a CPU's copy could not be allocated (addr_overflow); the wakes
    // from the wake records (last_wakes).
    std::map<std::pair<uint32_t, uint64_t>, futex_addr_stat> totals;
    auto add = [](futex_addr_stat& s, const futex_addr_stat& c) {  // the largest maximum
      s.waits += c.waits;
      s.wait_ns += c.wait_ns;
      s.max_wait_ns = std::max(s.max_wait_ns, c.max_wait_ns);
      s.wakes += c.wakes;
      for (int b = 0; b < FUTEX_HIST_BUCKETS; ++b) s.hist[b] += c.hist[b];
    };
    for_each_percpu_map_entry<futex_addr_key, futex_addr_stat>(
        bpf_map__fd(skel_->maps.addr_stats), [&](const futex_addr_key& key, const std::vector<futex_addr_stat>& cpus) {
          futex_addr_stat& s = totals.try_emplace({key.tgid, key.uaddr}).first->second;
          for (const futex_addr_stat& c : cpus) add(s, c);
        });
    for_each_map_entry<futex_addr_key, futex_addr_stat>(
        bpf_map__fd(skel_->maps.addr_overflow), [&](const futex_addr_key& key, const futex_addr_stat& c) {
          add(totals.try_emplace({key.tgid, key.uaddr}).first->second, c);
        });
    // The wakes: counted in each word's wake record, beside its last waker.
    for_each_map_entry<futex_addr_key, futex_wake_record>(
        bpf_map__fd(skel_->maps.last_wakes), [&](const futex_addr_key& key, const futex_wake_record& w) {
          totals.try_emplace({key.tgid, key.uaddr}).first->second.wakes += w.wakes;
        });
    for (const auto& [key, s] : totals) {
      const auto& [tgid, uaddr] = key;
      // Field by field, the part since the last hand-over; the maximum is the
      // largest since the probes were attached (a maximum cannot be split).
      auto part = [&](int field, uint64_t total) { return addr_part_({uaddr, tgid, field}, total); };
      model::FutexAddrStats a{uaddr, tgid, part(0, s.waits), part(1, s.wait_ns), s.max_wait_ns, part(2, s.wakes), {}};
      for (int b = 0; b < FUTEX_HIST_BUCKETS; ++b) a.hist_log2_ns[b] = part(3 + b, s.hist[b]);
      if (a.waits == 0) continue;  // addresses only woken, never waited on (in this window)
      rec.futex_addrs.push_back(a);
    }
    // sched_yield() totals per (thread, lock, caller); the profiler keeps lock libraries'.
    for_each_map_entry<lock_yield_key, lock_yield_stat>(
        bpf_map__fd(skel_->maps.lock_yields), [&](const lock_yield_key& key, const lock_yield_stat& y) {
          auto part = [&](int field, uint64_t total) {
            return yield_part_({key.tgid, key.tid, key.lock, key.caller, field}, total);
          };
          model::LockYield ly{key.tgid, key.tid, key.lock, key.caller, part(0, y.yields), part(1, y.yield_ns)};
          if (ly.yields) rec.lock_yields.push_back(ly);
        });
    const auto c = sum_percpu<futex_counters>(bpf_map__fd(skel_->maps.counters));
#define CCPROF_ADD_LOSS(name) rec.losses["futex." #name] += loss_part_(#name, c.name);
    FUTEX_COUNTERS(CCPROF_ADD_LOSS)
#undef CCPROF_ADD_LOSS
    // Detaching happens when the collector is destroyed: the session does that off the
    // critical path (closing tracepoint links takes ~60 ms each on this kernel).
  }

  static int on_event(void* ctx, void* data, size_t size) {
    auto* self = static_cast<FutexCollector*>(ctx);
    uint32_t type;
    if (size < sizeof type) return 0;
    memcpy(&type, data, sizeof type);
    if (type == FUTEX_EV_WAIT && size >= sizeof(futex_wait_event)) {
      self->add_wait(*static_cast<const futex_wait_event*>(data));
    } else if (type == FUTEX_EV_THREAD && size >= sizeof(futex_thread_event)) {
      self->add_thread(*static_cast<const futex_thread_event*>(data));
    }
    return 0;
  }

  void add_wait(const futex_wait_event& e) {
    // (the event fields are copied below; the stack copy is linked in finish())
    model::FutexWait w{.uaddr = e.uaddr,
                       .pid = e.tgid,
                       .tid = e.tid,
                       .op = e.op,
                       .expected = e.val,
                       .owner_tid = e.owner,
                       .ret = static_cast<int32_t>(e.ret),
                       .start_ns = e.start_ns,
                       .duration_ns = e.duration_ns,
                       .owner_syscall = e.owner_syscall,
                       .owner_syscall_since_ns = e.owner_since_ns,
                       .owner_syscall_ip = e.owner_ip,
                       .word = e.word,
                       .waker_tid = e.waker,
                       .woken_ns = e.woken_ns};
    ++waits_seen_;
    // A GIL wait of CPython 3.11: its Python frames, as the sampler read them.
    python_.on_wait(*rec_, e.tgid, e.tid, e.uaddr, e.start_ns, e.duration_ns);
    // Every wait with a stack copy is kept; of the others, 1 in keep_every_. When the
    // kept waits reach the cap, every other one of them is dropped and the stride
    // doubles: a uniform sample over the whole profile in bounded memory (the kernel's
    // per-lock totals stay exact; rules scale per-thread sums by keep_every). The kernel
    // applies the same stride before sending (bpf/futex.bpf.c, send_every), so of the
    // waits sent under a smaller one (in flight while it doubled) this side keeps
    // 1 in keep_every_ / sent_every.
    //
    // The sample also grows by at most kKeptWaitsPerSecond of the window's time (one
    // second's worth from the start): a program that waits 300,000 times a second
    // reaches a stride of 16-32 within its first second instead of sending every wait
    // until 200,000 are kept. Each wait sent costs the target's CPU ~190 ns more than a
    // counted one in the kernel (the owner's state, the ring buffer, the waker's record:
    // bench/bpf-ops), and the drain thread its decoding; 20,000 a second is still
    // thousands per lock and thread for the rules' scaled sums.
    if (!first_wait_ns_) first_wait_ns_ = e.start_ns ? e.start_ns : 1;
    if (!e.stack_seq) {
      const uint64_t extra = keep_every_ / std::max<uint64_t>(1, e.sent_every);
      if (extra > 1 && plain_received_++ % extra != 0) return;
      ++plain_kept_;
    }
    rec_->futex_waits.push_back(w);
    wait_seq_.push_back(e.stack_seq);
    const uint64_t elapsed_s = e.start_ns > first_wait_ns_ ? (e.start_ns - first_wait_ns_) / 1'000'000'000 : 0;
    const uint64_t allowance = std::min<uint64_t>(kMaxKeptWaits, kKeptWaitsPerSecond * (elapsed_s + 1));
    // (counted on the waits without a stack copy: thinning never drops the others, and
    // a sample of only those must not halve the stride at every wait)
    if (plain_kept_ >= allowance) thin_out();
  }

  // Puts a uprobe on every lock library slow path (lock_slow_paths.h)
  // in the modules the target has mapped, looked for again as libraries load: when the
  // session's /proc snapshot recorded new maps (it rereads them within 100 ms of an
  // mmap, agent/session.cc), at most every 100 ms, and every 2 s regardless (it read
  // /proc/PID/maps every 100 ms before, whether or not anything had been mapped). Waits
  // before the probe is in place are counted on the futex word itself.
  void probe_lock_slow_paths(Recording& rec) {
    if (!opts_.target_pid) return;
    if (failed_slow_path_attaches_) {
      rec.losses["futex.lock_slow_path_attach_failed"] += failed_slow_path_attaches_;
      failed_slow_path_attaches_ = 0;
    }
    const uint64_t now = monotonic_ns();
    if (now < next_maps_scan_ns_) return;
    const size_t generation = StackReduction::maps_generation(rec);
    if (maps_scanned_ && generation == scanned_generation_ && now < maps_rescan_ns_) return;
    maps_scanned_ = true;
    scanned_generation_ = generation;
    next_maps_scan_ns_ = now + 100'000'000;
    maps_rescan_ns_ = now + 2'000'000'000;
    auto maps = read_maps(opts_.target_pid);
    if (!maps.ok()) return;
    for (const auto& m : *maps) {
      if (m.path.empty() || m.path[0] != '/' || m.perms.find('x') == std::string::npos) continue;
      probe_module(m.path);
    }
  }

  // The uprobes on the lock slow paths of one module (a path as /proc/PID/maps names it),
  // once per path. Failures are counted in failed_slow_path_attaches_ until a scan adds
  // them to the recording (the executable is probed at start, before there is one).
  void probe_module(const std::string& path) {
    if (!scanned_modules_.insert(path).second) return;
    for (const std::string& fn : find_lock_slow_paths(path)) {
      LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = fn.c_str());
      bpf_link* l = bpf_program__attach_uprobe_opts(skel_->progs.lock_slow_enter, static_cast<pid_t>(opts_.target_pid),
                                                    path.c_str(), 0, &uo);
      if (!l) {
        spdlog::debug("futex collector: cannot attach a uprobe to {}:{}: {}", path, fn, strerror(errno));
        ++failed_slow_path_attaches_;
        continue;
      }
      slow_path_links_.emplace_back(l);
      skel_->bss->slow_paths_probed = 1;
      spdlog::debug("futex collector: lock slow path {} in {} probed", fn, path);
    }
  }

  // Waits not sent because of the stride, over all CPUs, since the attach.
  uint64_t not_sent_total() const {
    static const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    std::vector<futex_cpu_tick> per_cpu(static_cast<size_t>(ncpu));
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.cpu_ticks), &zero, per_cpu.data())) return 0;
    uint64_t n = 0;
    for (const auto& t : per_cpu) n += t.not_sent;
    return n;
  }

  void thin_out() {
    auto& waits = rec_->futex_waits;
    size_t out = 0, plain = 0, kept_plain = 0;
    for (size_t i = 0; i < waits.size(); ++i) {
      bool keep = wait_seq_[i] != 0 || (plain++ % 2 == 0);
      if (!keep) continue;
      if (!wait_seq_[i]) ++kept_plain;
      waits[out] = waits[i];
      wait_seq_[out] = wait_seq_[i];
      ++out;
    }
    waits.resize(out);
    wait_seq_.resize(out);
    plain_kept_ = kept_plain;
    keep_every_ *= 2;
    skel_->data->send_every = keep_every_;
  }

  void add_thread(const futex_thread_event& e) {
    std::string comm(e.comm, strnlen(e.comm, sizeof e.comm));
    for (auto& t : rec_->threads) {
      if (t.tid != e.tid) continue;
      if (e.exited) t.end_ns = e.time_ns;
      if (!comm.empty()) t.comm = comm;
      return;
    }
    model::ThreadInfo t;
    t.tid = e.tid;
    t.pid = e.tgid;
    t.comm = comm;
    if (e.exited) t.end_ns = e.time_ns;
    else t.start_ns = e.time_ns;
    rec_->threads.push_back(t);
  }

  FutexOptions opts_;
  SkeletonPtr<futex_bpf, &futex_bpf__destroy> skel_;
  EventRings rings_;
  Recording* rec_ = nullptr;
  std::set<std::string> scanned_modules_;
  std::vector<LinkPtr> slow_path_links_;
  uint64_t next_maps_scan_ns_ = 0, maps_rescan_ns_ = 0;
  size_t scanned_generation_ = 0;  // StackReduction::maps_generation at the last scan
  uint64_t failed_slow_path_attaches_ = 0;  // not yet counted in a recording
  bool maps_scanned_ = false;
  CpythonFrames python_;
  // Wait events kept in memory at most (~100 bytes each in the recording).
  static constexpr size_t kMaxKeptWaits = 200'000;
  // ...and at most this many more per second of the window (add_wait).
  static constexpr uint64_t kKeptWaitsPerSecond = 20'000;
  std::vector<uint64_t> wait_seq_;  // stack seq of each kept wait (0: none), parallel to rec.futex_waits
  uint64_t waits_seen_ = 0;
  uint64_t keep_every_ = 1;
  uint64_t plain_received_ = 0;  // waits without a stack copy received (the stride's position)
  uint64_t plain_kept_ = 0;      // of rec.futex_waits, those without a stack copy
  uint64_t first_wait_ns_ = 0;   // the window's first wait began (kernel monotonic clock)
  SinceLastCut<int> not_sent_part_;
  SinceLastCut<std::tuple<uint64_t, uint32_t, int>> addr_part_;  // (uaddr, tgid, field)
  SinceLastCut<std::string> loss_part_;
  SinceLastCut<std::tuple<uint32_t, uint32_t, uint64_t, uint64_t, int>> yield_part_;  // (tgid, tid, lock, caller, field)
};

}  // namespace

std::unique_ptr<Collector> make_futex_collector(const FutexOptions& opts) {
  return std::make_unique<FutexCollector>(opts);
}

}  // namespace ccprof::agent
