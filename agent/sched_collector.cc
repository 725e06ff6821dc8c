#include "agent/stack_events.h"
#include "agent/bpf_map.h"
#include "agent/sched_collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/proc.h"
#include "model/recording.h"
#include "bpf/sched_events.h"
#include "sched.skel.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {
namespace {

using model::Recording;
using model::SchedSection;
using model::SchedThread;

static_assert(SCHED_SC_CLASSES == model::kNumSyscallClasses, "bpf/sched_events.h and sched_data.h disagree");

// A thread's entry in ccprof_thread_states (task storage: user space looks it up by a
// pidfd of the thread; PIDFD_THREAD, Linux 6.9+).
enum class ThreadStateRead { kFound, kNone, kUnsupported };
ThreadStateRead thread_state(int states_fd, uint32_t tid, ccprof_thread_state* ts) {
  constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tid, kPidfdThread));
  // Before 6.9 pidfd_open() refuses the PIDFD_THREAD flag (EINVAL): the state cannot be
  // asked. A thread that is gone is ESRCH.
  if (pidfd < 0) return errno == EINVAL ? ThreadStateRead::kUnsupported : ThreadStateRead::kNone;
  const bool found = bpf_map_lookup_elem(states_fd, &pidfd, ts) == 0;
  close(pidfd);
  return found ? ThreadStateRead::kFound : ThreadStateRead::kNone;
}

// glibc's clone/clone3 wrappers end their unwind info before the syscall ("in the
// child the unwind info will be wrong"), so a stack copied at their syscall does not
// unwind. They push nothing: the return address into pthread_create/fork is at sp.
// Pop it, so the copy starts in the caller, which has unwind info.
void pop_return_address(model::StackCopy& sc) {
  if (sc.stack.size() < 16) return;
  uint64_t ret = 0;
  memcpy(&ret, sc.stack.data(), sizeof ret);
  sc.regs[model::kRip] = ret;
  sc.regs[model::kRsp] += 8;
  sc.stack.erase(sc.stack.begin(), sc.stack.begin() + 8);
}

bool is_clone_wrapper_syscall(int nr) { return nr == SYS_clone || nr == SYS_clone3; }

SchedThread thread_from_stat(const sched_thread_stat& s) {
  SchedThread t{.pid = s.tgid,
                .tid = s.tid,
                .comm = std::string(s.comm, strnlen(s.comm, sizeof s.comm)),
                .created_ns = s.created_ns,
                .exited_ns = s.exited_ns,
                .first_seen_ns = s.first_seen_ns,
                .on_cpu_ns = s.on_cpu_ns,
                .off_cpu_ns = s.off_cpu_ns,
                .runq_ns = s.runq_ns,
                .max_runq_ns = s.max_runq_ns,
                .runq_count = s.runq_count,
                .voluntary_switches = s.vol_switches,
                .involuntary_switches = s.invol_switches,
                .wakeups = s.wakeups};
  std::copy(s.sc_ns, s.sc_ns + SCHED_SC_CLASSES, t.syscall_ns.begin());
  std::copy(s.sc_count, s.sc_count + SCHED_SC_CLASSES, t.syscall_count.begin());
  return t;
}

class SchedCollector : public Collector {
 public:
  explicit SchedCollector(const SchedOptions& opts) : opts_(opts) {}
  const char* name() const override { return "sched"; }

  absl::Status start(const SharedMaps& shared) override {
    tgids_fd_ = shared.tgids_fd;
    if (auto s = open_skeleton(skel_, &sched_bpf__open, shared, "sched collector"); !s.ok()) return s;
    if (skel_->rodata->ablated) {
      // bench/bpf_ablate.py's variants: parts of the syscall path left out on purpose
      if (!std::getenv("CCPROF_BENCH_ABLATED"))
        return absl::FailedPreconditionError(
            "this ccprof was built with CCPROF_BPF_DEFINES (bench/bpf_ablate.py's ablations): parts of its "
            "syscall tracing are left out and its profiles would be wrong; rebuild without them");
      spdlog::warn("ablated build (bench/bpf_ablate.py): this profile's waits, wakers or durations are wrong");
    }
    for (int nr = 0; nr < SCHED_MAX_SYSCALL; ++nr)
      skel_->rodata->syscall_class[nr] = static_cast<uint8_t>(model::classify_syscall(nr));
    for (int nr : {SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_execve, SYS_execveat, SYS_prctl})
      if (nr < SCHED_MAX_SYSCALL) skel_->rodata->changes_process[nr] = 1;
    skel_->rodata->long_syscall_ns = opts_.long_syscall_ns;
    skel_->rodata->stacks_per_window = opts_.stacks_per_window;
    skel_->rodata->window_ns = opts_.window_ns;
    // The futex syscalls go on to the futex collector's programs (tail calls), when it runs.
    const bool hand_over = shared.futex_sys_enter_prog >= 0 && shared.futex_sys_exit_prog >= 0 &&
                           shared.last_wakes_fd >= 0 && shared.addr_stats_fd >= 0 && shared.addr_overflow_fd >= 0;
    skel_->rodata->hand_over_futex = hand_over ? 1 : 0;
    // The wakes and the unsent waits' totals go into the futex collector's maps; without
    // it these maps are unused.
    for (auto [map, fd] : {std::pair{skel_->maps.last_wakes, shared.last_wakes_fd},
                           std::pair{skel_->maps.addr_stats, shared.addr_stats_fd},
                           std::pair{skel_->maps.addr_overflow, shared.addr_overflow_fd}})
      if (hand_over ? bpf_map__reuse_fd(map, fd) : bpf_map__set_max_entries(map, 1))
        return absl::InternalError(absl::StrCat("sched collector: cannot share the futex collector's maps: ",
                                                strerror(errno)));
    SchedTimeline::configure(skel_.get(), opts_.timeline);
    if (auto s = load_skeleton(skel_, &sched_bpf__load, "sched collector"); !s.ok()) return s;
    // In place before anything is attached, so no futex syscall passes unseen.
    const uint32_t slot = 0;
    for (auto [map, prog] : {std::pair{skel_->maps.futex_sys_enter_tail, shared.futex_sys_enter_prog},
                             std::pair{skel_->maps.futex_sys_exit_tail, shared.futex_sys_exit_prog}}) {
      if (!hand_over) break;
      if (bpf_map_update_elem(bpf_map__fd(map), &slot, &prog, BPF_ANY))
        return absl::InternalError(absl::StrCat("sched collector: cannot hand futex syscalls over (tail call): ",
                                                strerror(errno)));
    }
    if (int e = sched_bpf__attach(skel_.get()))
      return absl::InternalError(absl::StrCat("sched collector: cannot attach to the scheduler and syscall "
                                              "tracepoints (tp_btf needs kernel BTF): ",
                                              strerror(-e)));
    section_.long_syscall_ns = opts_.long_syscall_ns;
    if (auto s = timeline_.open(skel_.get(), opts_.timeline); !s.ok()) return s;
    return rings_.open(bpf_map__fd(skel_->maps.events), bpf_map__fd(skel_->maps.stack_events), on_event, this,
                       "sched collector");
  }

  void drain(Recording& rec) override {
    rec_ = &rec;
    rings_.drain(rec);
    timeline_.drain();
    uint64_t now = monotonic_ns();
    if (now >= next_rss_ns_) {
      sample_rss(now);
      next_rss_ns_ = now + opts_.rss_interval_ns;
    }
  }

  void finish(Recording& rec) override {
    hand_over(rec);
    timeline_.hand_over(rec, monotonic_ns(), section_.threads, /*last=*/true);
  }

  void cut(Recording& rec) override {
    hand_over(rec);
    timeline_.hand_over(rec, monotonic_ns(), section_.threads, /*last=*/false);
    // The next window starts with its own threads, syscalls and stack copies.
    section_ = SchedSection{};
    section_.long_syscall_ns = opts_.long_syscall_ns;
    pending_seq_.clear();
    rings_.start_window();
  }

  std::optional<uint64_t> process_changes() const override {
    if (!skel_ || !skel_->data_process_changes) return std::nullopt;
    return __atomic_load_n(&skel_->data_process_changes->process_changes, __ATOMIC_RELAXED);
  }

  uint64_t events() const override { return events_; }
  uint64_t drops() const override {
    if (!skel_) return 0;
    const auto c = sum_percpu<sched_counters>(bpf_map__fd(skel_->maps.counters));
    return c.thread_events_dropped + c.syscall_events_dropped + c.stack_events_dropped + c.thread_map_full +
           timeline_.drops();
  }

 private:
  // What was collected since the last hand-over (the start, or serve's previous cut).
  void hand_over(Recording& rec) {
    drain(rec);
    rings_.drain_backlog(rec);
    uint64_t now = monotonic_ns();
    sample_rss(now);
    // Link long syscalls to stack copies that arrived after them.
    for (auto& [index, seq] : pending_seq_) {
      const int32_t stack = rings_.stacks().index_of(seq);
      if (stack < 0) {
        rec.losses["sched.stack_copies_lost"]++;
        continue;
      }
      section_.long_syscalls[index].stack = stack;
      if (is_clone_wrapper_syscall(section_.long_syscalls[index].nr)) pop_return_address(rec.stacks[stack]);
    }
    unread_states_ = 0;
    read_live_threads(now);
    if (unread_states_) rec.losses["sched.live_syscalls_unread"] += unread_states_;
    read_sites();
    const auto c = sum_percpu<sched_counters>(bpf_map__fd(skel_->maps.counters));
#define CCPROF_ADD_LOSS(name) rec.losses["sched." #name] += loss_part_(#name, c.name);
    SCHED_COUNTERS(CCPROF_ADD_LOSS)
#undef CCPROF_ADD_LOSS
#define CCPROF_ADD_FUTEX_LOSS(name) rec.losses["futex." #name] += loss_part_("futex_" #name, c.futex_##name);
    SCHED_FUTEX_COUNTERS(CCPROF_ADD_FUTEX_LOSS)
#undef CCPROF_ADD_FUTEX_LOSS
    for (auto& t : section_.threads) keep_part(t);
    rec.has_sched = true;
    rec.sched = section_;
    // Detaching happens when the collector is destroyed: the session does that off the
    // critical path (closing tracepoint links takes ~60 ms each on this kernel).
  }

  // A thread's totals (from its creation or the attach) become the part since the last
  // hand-over; the longest run-queue delay stays the longest since the attach.
  void keep_part(SchedThread& t) {
    int field = 0;
    auto part = [&](uint64_t& v) { v = thread_part_({t.tid, field++}, v); };
    for (uint64_t* v : {&t.on_cpu_ns, &t.off_cpu_ns, &t.runq_ns, &t.runq_count, &t.voluntary_switches,
                        &t.involuntary_switches, &t.wakeups})
      part(*v);
    for (auto& v : t.syscall_ns) part(v);
    for (auto& v : t.syscall_count) part(v);
  }

  static int on_event(void* ctx, void* data, size_t size) {
    auto* self = static_cast<SchedCollector*>(ctx);
    uint32_t type;
    if (size < sizeof type) return 0;
    memcpy(&type, data, sizeof type);
    if (type == SCHED_EV_THREAD && size >= sizeof(sched_thread_event)) {
      self->section_.threads.push_back(thread_from_stat(static_cast<const sched_thread_event*>(data)->stat));
    } else if (type == SCHED_EV_SYSCALL && size >= sizeof(sched_syscall_event)) {
      self->add_syscall(*static_cast<const sched_syscall_event*>(data));
    }
    ++self->events_;
    return 0;
  }

  void add_syscall(const sched_syscall_event& e) {
    model::SyscallSample s{
        .pid = e.tgid, .tid = e.tid, .nr = e.nr, .enter_ns = e.enter_ns, .duration_ns = e.duration_ns, .ip = e.ip};
    if (e.stack_seq) {
      if (const int32_t stack = rings_.stacks().index_of(e.stack_seq); stack >= 0) {
        s.stack = stack;
        if (is_clone_wrapper_syscall(s.nr)) pop_return_address(rec_->stacks[s.stack]);
      } else {
        pending_seq_.emplace_back(section_.long_syscalls.size(), e.stack_seq);
      }
    }
    section_.long_syscalls.push_back(s);
  }

  void sample_rss(uint64_t now) {
    for_each_map_entry<uint32_t, uint8_t>(tgids_fd_, [&](uint32_t tgid, uint8_t) {
      // One read: a zombie's statm reads 0 and a process gone has none (no /proc/PID/stat
      // read to ask first, ten times a second).
      const ResidentMemory m = read_resident_memory(tgid);
      if (m.rss_bytes == 0) return;  // a zombie (no memory left) or a process that just went away
      section_.rss.push_back({now, tgid, m.rss_bytes, m.anon_bytes});
    });
  }

  // Threads still alive: their totals are in the map; close the intervals still open.
  void read_live_threads(uint64_t now) {
    int states_fd = bpf_map__fd(skel_->maps.ccprof_thread_states);
    for_each_map_entry<uint32_t, sched_thread_stat>(bpf_map__fd(skel_->maps.threads), [&](uint32_t key,
                                                                                          sched_thread_stat s) {
      if (s.last_in_ns && now > s.last_in_ns) s.on_cpu_ns += now - s.last_in_ns;
      if (!s.last_in_ns && s.last_out_ns && now > s.last_out_ns) s.off_cpu_ns += now - s.last_out_ns;
      if (s.runnable_since_ns && now > s.runnable_since_ns) s.runq_ns += now - s.runnable_since_ns;
      ccprof_thread_state ts{};
      const ThreadStateRead read = thread_state(states_fd, key, &ts);
      // A syscall still in flight is then missing from the thread's per-class totals.
      if (read == ThreadStateRead::kUnsupported) unread_states_++;
      // Syscall time the BPF side has not added to the totals yet (bpf/common.h); lost
      // where the state cannot be read, as the syscall in flight is (unread_states_).
      if (read == ThreadStateRead::kFound && ts.sc_pending_count && ts.sc_pending_class < SCHED_SC_CLASSES) {
        s.sc_ns[ts.sc_pending_class] += ts.sc_pending_ns;
        s.sc_count[ts.sc_pending_class] += ts.sc_pending_count;
      }
      if (read == ThreadStateRead::kFound && ts.state == CCPROF_TS_IN_SYSCALL && now > ts.since_ns) {
        int cls = static_cast<int>(model::classify_syscall(ts.syscall_nr));
        s.sc_ns[cls] += now - ts.since_ns;
        s.sc_count[cls]++;
      }
      SchedThread t = thread_from_stat(s);
      if (t.comm.empty()) t.comm = read_comm(t.pid, t.tid);
      section_.threads.push_back(std::move(t));
    });
  }

  void read_sites() {
    for_each_map_entry<sched_site_key, sched_site_stat>(
        bpf_map__fd(skel_->maps.sites), [&](const sched_site_key& key, const sched_site_stat& s) {
          auto part = [&](int field, uint64_t total) { return site_part_({key.tgid, key.nr, key.ip, field}, total); };
          model::SyscallSite site{key.tgid, key.nr, key.ip, part(0, s.count), part(1, s.total_ns), s.max_ns};
          if (site.count) section_.syscall_sites.push_back(site);
        });
  }

  SchedOptions opts_;
  SkeletonPtr<sched_bpf, &sched_bpf__destroy> skel_;
  EventRings rings_;
  SchedTimeline timeline_;
  int tgids_fd_ = -1;
  Recording* rec_ = nullptr;
  SchedSection section_;
  std::vector<std::pair<size_t, uint64_t>> pending_seq_;  // (long_syscalls index, stack seq)
  uint64_t next_rss_ns_ = 0;
  uint64_t events_ = 0;
  uint64_t unread_states_ = 0;  // live threads whose in-flight syscall could not be read
  SinceLastCut<std::pair<uint32_t, int>> thread_part_;  // (tid, field)
  SinceLastCut<std::tuple<uint32_t, int32_t, uint64_t, int>> site_part_;  // (tgid, nr, ip, field)
  SinceLastCut<std::string> loss_part_;
};

}  // namespace

std::unique_ptr<Collector> make_sched_collector(const SchedOptions& opts) {
  return std::make_unique<SchedCollector>(opts);
}

}  // namespace ccprof::agent
