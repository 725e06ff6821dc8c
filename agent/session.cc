#include "agent/session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/capabilities.h"
#include "agent/collector.h"
#include "agent/futex_collector.h"
#include "agent/launcher.h"
#include "agent/lockrate_collector.h"
#include "agent/memory_sampler.h"
#include "agent/sched_collector.h"
#include "agent/stack_reduction.h"
#include "agent/proc.h"
#include "agent/target_stop.h"
#include "agent/tracefs.h"
#include "agent/unique_fd.h"
#include "bpf/common.h"
#include "model/target_files.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {

volatile std::sig_atomic_t g_stop_requested = 0;

namespace {

std::thread& detach_thread() {
  static std::thread t;
  return t;
}
// Sessions may run on several threads at once (serve with several targets).
std::mutex& detach_mutex() {
  static std::mutex m;
  return m;
}

using model::Recording;

constexpr uint64_t kDrainIntervalNs = 20'000'000;     // ring buffers are read without wakeups
// /proc maps and threads: reread at most this often after the target changed them (a
// mapping, an exec, a thread created, exited or renamed, as the sched collector sees),
// and every kQuietSnapshotIntervalNs when nothing moved (a thread renamed through
// /proc/PID/task/TID/comm by another thread is not a syscall of its own). Without the
// sched collector, every kSnapshotIntervalNs.
constexpr uint64_t kSnapshotIntervalNs = 100'000'000;
constexpr uint64_t kQuietSnapshotIntervalNs = 1'000'000'000;
constexpr uint64_t kStatusIntervalNs = 250'000'000;

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, args);
  std::string s(buf);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  spdlog::debug("libbpf: {}", s);
  return 0;
}


uint64_t thread_start_ns(uint32_t pid, uint32_t tid) {
  // /proc/PID/task/TID/stat field 22: start time in clock ticks since boot.
  const auto f = read_stat_fields(absl::StrCat("/proc/", pid, "/task/", tid, "/stat"));
  if (f.size() < 20) return 0;
  const double secs = std::strtod(f[19].c_str(), nullptr) / static_cast<double>(sysconf(_SC_CLK_TCK));
  timespec boot, mono;
  clock_gettime(CLOCK_BOOTTIME, &boot);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  const double offset = (boot.tv_sec - mono.tv_sec) + (boot.tv_nsec - mono.tv_nsec) / 1e9;
  const double t = secs - offset;
  return t > 0 ? static_cast<uint64_t>(t * 1e9) : 0;
}

class Snapshotter {
 public:
  explicit Snapshotter(Recording& rec) : rec_(rec), files_(std::make_shared<model::TargetFiles>()) {
    rec_.target_files = files_;
  }

  // The open files of a window cut off (serve): its own, opened again from its recorded
  // maps, because its analysis reads them on another thread while this session keeps
  // capturing into files_ (TargetFiles has no lock), and the stack reducer keeps using
  // files_ for the session's life (its symbolizers hold the pointer).
  std::shared_ptr<const model::TargetFiles> window_files(const Recording& window) const {
    auto files = std::make_shared<model::TargetFiles>();
    for (const auto& p : window.processes) files->capture(p.pid, p.maps);
    return files;
  }

  void snapshot(const std::vector<uint32_t>& tgids, uint64_t now) {
    for (uint32_t pid : tgids) {
      auto maps = read_maps(pid);
      if (!maps.ok() || maps->empty()) continue;  // gone, or a zombie
      files_->capture(pid, *maps);  // while the files are reachable (containers, deleted files)
      model::ProcessInfo* p = process(pid);
      if (p->comm.empty()) p->comm = read_comm(pid, pid);
      if (p->cmdline.empty()) p->cmdline = read_cmdline(pid);
      std::string exe = read_exe(pid);
      // Read while the process lives (it may be gone when the profile ends); an exec
      // moves them, so every range seen is kept.
      if (ArgEnvRange r = read_arg_env_range(pid); r.end > r.start) arg_env_[pid].insert({r.start, r.end});
      auto& seen = map_keys_[pid];
      if (!exe.empty() && !p->exe.empty() && exe != p->exe) {
        // The process exec'd (a launcher, a shell, `env`): the old image is gone.
        p->maps.clear();
        seen.clear();
        p->comm = read_comm(pid, pid);
        p->cmdline = read_cmdline(pid);
      }
      if (!exe.empty()) p->exe = exe;
      for (auto& m : *maps) {
        auto key = std::make_tuple(m.start, m.end, m.offset, m.path);
        if (!seen.insert(key).second) continue;
        m.build_id = files_->build_id(pid, m.path, m.inode);  // identifies the file for `ccprof report`
        p->maps.push_back(std::move(m));
      }
      std::set<uint32_t> alive;
      for (uint32_t tid : list_threads(pid)) {
        alive.insert(tid);
        model::ThreadInfo* t = thread(tid, pid);
        if (t->start_ns == 0) t->start_ns = thread_start_ns(pid, tid);
        std::string comm = read_comm(pid, tid);
        if (!comm.empty()) t->comm = comm;
      }
      for (auto& t : rec_.threads)
        if (t.pid == pid && t.end_ns == 0 && !alive.count(t.tid) && live_.count(t.tid)) t.end_ns = now;
      for (uint32_t tid : alive) live_.insert(tid);
    }
  }

 private:
  model::ProcessInfo* process(uint32_t pid) {
    for (auto& p : rec_.processes)
      if (p.pid == pid) return &p;
    rec_.processes.push_back({});
    rec_.processes.back().pid = pid;
    return &rec_.processes.back();
  }
  model::ThreadInfo* thread(uint32_t tid, uint32_t pid) {
    for (auto& t : rec_.threads)
      if (t.tid == tid) return &t;
    rec_.threads.push_back({});
    rec_.threads.back().tid = tid;
    rec_.threads.back().pid = pid;
    return &rec_.threads.back();
  }
  Recording& rec_;
  std::shared_ptr<model::TargetFiles> files_;
  std::map<uint32_t, std::set<std::tuple<uint64_t, uint64_t, uint64_t, std::string>>> map_keys_;
  std::map<uint32_t, std::set<std::pair<uint64_t, uint64_t>>> arg_env_;  // pid -> argv/environment ranges

 public:
  // Zeroes the argv and environment strings in every copied stack (proc.h).
  uint64_t redact(Recording& rec) const {
    uint64_t n = 0;
    for (const auto& [pid, ranges] : arg_env_)
      for (const auto& [start, end] : ranges) n += redact_arg_env(rec, pid, {start, end});
    return n;
  }

 private:
  std::set<uint32_t> live_;
};

std::vector<uint32_t> read_tgids(int fd) {
  std::vector<uint32_t> out;
  uint32_t key, next;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  return out;
}

void sleep_ns(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
  nanosleep(&ts, nullptr);  // EINTR (Ctrl-C) simply ends the nap early
}

}  // namespace

void join_detach() {
  std::lock_guard<std::mutex> lock(detach_mutex());
  if (detach_thread().joinable()) detach_thread().join();
}

struct Session::State {
  SessionOptions opts;
  Recording rec;
  uint32_t target = 0;
  std::optional<Launched> child;
  TargetMaps target_maps;
  std::vector<std::unique_ptr<Collector>> collectors;
  std::unique_ptr<Snapshotter> snap;
  std::unique_ptr<StackReduction> reduction;
  uint64_t last_snapshot = 0, next_status = 0;
  std::optional<uint64_t> process_changes;  // the collectors' count at the last snapshot
  uint64_t snapshots = 0;

  // Whether the /proc snapshot is due (see kSnapshotIntervalNs).
  bool snapshot_due(uint64_t now) {
    if (last_snapshot == 0) return true;
    const uint64_t since = now - last_snapshot;
    const uint64_t least = opts.continuous ? kContinuous.snapshot_interval_ns : kSnapshotIntervalNs;
    if (since < least) return false;
    std::optional<uint64_t> changes;
    for (const auto& c : collectors)
      if (auto n = c->process_changes()) changes = changes.value_or(0) + *n;
    if (!changes) return true;  // no collector watches: the fixed interval
    if (process_changes == changes && since < std::max(least, kQuietSnapshotIntervalNs)) return false;
    process_changes = changes;
    return true;
  }
  bool target_gone = false, stopped = false;
  std::string stop_reason;
  model::LossCounters not_started;  // collectors that could not start: said again in every window
};

Session::Session(std::unique_ptr<State> s) : s_(std::move(s)) {}

Session::~Session() {
  if (!s_->stopped) stop();
}

uint32_t Session::target() const { return s_->target; }
uint64_t Session::start_ns() const { return s_->rec.start_ns; }

absl::StatusOr<std::unique_ptr<Session>> Session::start(const SessionOptions& opts) {
  join_detach();  // a previous session's probes (ccprof scale runs several)
  if (auto s = check_privileges(); !s.ok()) return s;
  libbpf_set_print(libbpf_log);
  if (auto s = ensure_tracefs(); !s.ok()) return s;

  auto st = std::make_unique<State>();
  st->opts = opts;
  Recording& rec = st->rec;
  rec.ccprof_version = model::kCcprofVersion;
  rec.mode = opts.mode == SessionOptions::Mode::kRun ? "run" : "attach";
  rec.command = opts.command;
  utsname u{};
  if (uname(&u) == 0) {
    rec.hostname = u.nodename;
    rec.kernel = u.release;
  }
  rec.online_cpus = static_cast<uint32_t>(sysconf(_SC_NPROCESSORS_ONLN));
  rec.memory_sampler.mode = "off";
  rec.memory_sampler.reason = "turned off with --sampler off";
  rec.profile_mode = profile_mode(opts.continuous);

  uint32_t& target = st->target;
  std::optional<Launched>& child = st->child;
  if (opts.mode == SessionOptions::Mode::kAttach) {
    if (opts.pid == 0 || !process_exists(opts.pid))
      return absl::NotFoundError(absl::StrCat("cannot attach to pid ", opts.pid, ": no such process"));
    target = opts.pid;
    rec.command = read_cmdline(target);
  } else {
    if (opts.command.empty()) return absl::InvalidArgumentError("no command to run: give it after --");
    // The child waits before exec until the probes are live.
    auto launched = launch(opts.command, LaunchOptions{.hold_before_exec = true});
    if (!launched.ok()) return launched.status();
    child = std::move(*launched);
    target = static_cast<uint32_t>(child->pid);
  }
  // From here on, a launched child must not be left waiting.
  auto abandon_child = [&]() {
    if (child) abandon(*child);
  };

  auto target_maps = make_target_maps(target);
  if (!target_maps.ok()) {
    abandon_child();
    return target_maps.status();
  }
  st->target_maps = std::move(*target_maps);
  SharedMaps shared = st->target_maps.shared();

  // Collectors: futex is the foundation; the others add evidence. An optional one that
  // cannot start on this machine is reported as a loss, not a failure.
  struct Planned {
    std::unique_ptr<Collector> collector;
    bool required;
  };
  std::vector<Planned> planned;
  // futex first: it alone adds child processes to ccprof_tgids, and the sched program's
  // fork handler, attached after it, relies on that decision (bpf/sched.bpf.c).
  FutexOptions fo;
  fo.follow_children = opts.follow_children;
  fo.target_pid = target;
  if (opts.mode != SessionOptions::Mode::kAttach) {
    // The executable the child will exec, as its maps will name it (links resolved).
    if (auto exe = resolve_command(opts.command[0]); exe.ok()) {
      char real[PATH_MAX];
      if (realpath(exe->c_str(), real)) fo.target_exe = real;
    }
  }
  fo.syscalls_from_sched = opts.sched;
  SchedOptions so;
  if (opts.continuous) {
    fo.stacks_per_window = kContinuous.futex_stacks_per_window;
    fo.wait_stride = kContinuous.wait_stride;
    so.stacks_per_window = kContinuous.syscall_stacks_per_window;
    if (!kContinuous.cpu_timeline) so.timeline.runs_per_s = 0;
  }
  planned.push_back({make_futex_collector(fo), true});
  if (opts.sched) planned.push_back({make_sched_collector(so), true});
  if (!opts.continuous || kContinuous.lock_rate_windows) {
    LockRateOptions lo;
    lo.target_pid = target;
    planned.push_back({make_lockrate_collector(lo), false});
  }
  if (opts.memory_sampler != "off") {
    MemorySamplerOptions mo;
    mo.mode = opts.memory_sampler;
    if (opts.continuous) mo.frequency_hz = kContinuous.sample_hz;
    if (opts.sample_hz) mo.frequency_hz = opts.sample_hz;
    mo.clock = opts.sampler_clock;
    mo.budget = opts.sampler_budget >= 0 ? opts.sampler_budget
                : opts.continuous         ? kContinuousSamplerBudget
                                          : kDefaultSamplerBudget;
    if (auto sampler = make_memory_sampler(mo)) {
      planned.push_back({std::move(sampler), opts.memory_sampler != "auto"});
    } else {
      std::string reason;
      rec.memory_sampler.mode = resolve_memory_sampler_mode(mo, nullptr, &reason);
      rec.memory_sampler.reason = reason;
      if (opts.memory_sampler != "auto") {
        abandon_child();
        return absl::FailedPreconditionError(absl::StrCat("--sampler ", opts.memory_sampler, " is not available: ", reason));
      }
    }
  }
  for (auto& p : planned) {
    if (auto s = p.collector->start(shared); !s.ok()) {
      if (p.required) {
        abandon_child();
        return s;
      }
      spdlog::warn("{}", std::string(s.message()));
      st->not_started[absl::StrCat(p.collector->name(), ".not_started")]++;
      if (std::string(p.collector->name()) == "memory-sampler")
        rec.memory_sampler.reason = absl::StrCat("could not start: ", s.message());
      continue;
    }
    spdlog::debug("collector {} attached", p.collector->name());
    p.collector->share(shared);
    st->collectors.push_back(std::move(p.collector));
  }
  for (const auto& [k, v] : st->not_started) rec.losses[k] += v;

  rec.start_ns = monotonic_ns();
  st->snap = std::make_unique<Snapshotter>(rec);
  st->reduction = std::make_unique<StackReduction>(opts.stack_reducer, opts.keep_stack_bytes);
  st->next_status = rec.start_ns + kStatusIntervalNs;
  // From here on the destructor detaches (and stops a launched child).
  std::unique_ptr<Session> session(new Session(std::move(st)));
  State& s = *session->s_;
  if (s.child) {
    // Probes are live: let the child exec, and learn whether exec worked.
    if (auto e = wait_for_exec(*s.child, opts.command[0]); !e.ok()) {
      s.stopped = true;  // the child is gone: nothing to stop
      // A Ctrl-C from the terminal reaches the waiting child too, which then ends.
      if (g_stop_requested) return absl::CancelledError("interrupted before the target started");
      return e;
    }
  } else {
    // Gone while the probes were being attached: nothing of it was profiled.
    if (!process_exists(target)) {
      s.stopped = true;
      return absl::NotFoundError(absl::StrCat("pid ", target, " exited while ccprof attached to it: nothing to profile"));
    }
    spdlog::info("attached to pid {} ({})", target, read_comm(target, target));
  }
  return session;
}

model::ProfileMode profile_mode(bool continuous) {
  model::ProfileMode m;
  if (!continuous) return m;
  const ContinuousSettings& c = kContinuous;
  m.name = "continuous";
  m.gives_up = {
      absl::StrCat("memory sampler at ", c.sample_hz, " Hz per CPU instead of ", kDefaultMemorySampleHz,
                   " (decode mode; ", kDefaultPmuSampleHz,
                   " with a PMU): false sharing and hot cache lines take ~5-10x longer to reach their sample "
                   "thresholds; its CPU budget is ", kContinuousSamplerBudget * 100, "% of the CPUs instead of ",
                   kDefaultSamplerBudget * 100, "% (over it, it halves its rate)"),
      "no lock-rate uprobe windows: no critical-section hold times, lock call rates or lock-order inversions "
      "(those probes trap on every lock call)",
      absl::StrCat("1 in ", c.wait_stride,
                   " futex wait events kept from the start: each lock's total wait, count and histogram stay exact; "
                   "per-thread and per-site shares come from the sample"),
      absl::StrCat(c.futex_stacks_per_window, " waiter stack copies per lock per 100 ms instead of ",
                   FutexOptions{}.stacks_per_window, ", ", c.syscall_stacks_per_window,
                   " per blocking-syscall site instead of ", SchedOptions{}.stacks_per_window,
                   ": rare call sites may have no stack"),
      "no CPU timeline (each thread's runs, ~100 ns per context switch): chrome-trace exports show waits and "
      "syscalls but not running/runnable time",
      absl::StrCat("the agent wakes every ", c.drain_interval_ns / 1'000'000, " ms (not ", kDrainIntervalNs / 1'000'000,
                   ") and rereads /proc every ", c.snapshot_interval_ns / 1'000'000,
                   " ms, even after the target mapped memory or started threads (default: within ",
                   kSnapshotIntervalNs / 1'000'000, " ms of such a change): a thread or library that lives shorter "
                   "than that may be unnamed"),
  };
  return m;
}

bool Session::run_until(uint64_t until_ns, const std::function<void(const SessionProgress&)>& on_progress) {
  State& s = *s_;
  Recording& rec = s.rec;
  if (s.target_gone || s.stopped) return false;
  while (true) {
    uint64_t now = monotonic_ns();
    if (s.snapshot_due(now)) {
      s.snap->snapshot(read_tgids(s.target_maps.tgids.get()), now);
      s.last_snapshot = now;
      s.snapshots++;
    }
    for (auto& c : s.collectors) c->drain(rec);
    s.reduction->reduce(rec, /*final=*/false, until_ns);
    for (auto& c : s.collectors) c->pace(now, s.reduction->sample_cpu_s());
    if (s.child) {
      int status = 0;
      pid_t r = waitpid(s.child->pid, &status, WNOHANG);
      if (r == s.child->pid) {
        rec.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        s.target_gone = true;
        s.stop_reason = "target exited";
      }
    } else if (!process_exists(s.target)) {
      s.target_gone = true;
      s.stop_reason = "target exited during the profile";
      spdlog::warn("pid {} exited after {:.1f} s of profiling: writing what was collected", s.target,
                   (now - rec.start_ns) / 1e9);
    }
    if (s.target_gone) return false;
    if (g_stop_requested) {
      s.stop_reason = "interrupted";
      return false;
    }
    if (until_ns && now >= until_ns) {
      s.stop_reason = "duration reached";
      return true;
    }
    if (on_progress && now >= s.next_status) {
      SessionProgress p;
      p.elapsed_s = (now - rec.start_ns) / 1e9;
      p.pid = s.target;
      for (auto& c : s.collectors) {
        p.events += c->events();
        p.drops += c->drops();
      }
      on_progress(p);
      s.next_status = now + kStatusIntervalNs;
    }
    uint64_t nap = s.opts.continuous ? kContinuous.drain_interval_ns : kDrainIntervalNs;
    if (until_ns && until_ns > now && until_ns - now < nap) nap = until_ns - now;  // end the window on time
    sleep_ns(nap);
  }
}

namespace {

// The window's end: threads clipped to it; no environment (tokens, passwords) or argv
// beyond the command line leaves the agent.
void close_recording(Recording& rec, const Snapshotter& snap) {
  if (uint64_t n = snap.redact(rec)) spdlog::debug("redacted {} bytes of argv/environment from stack copies", n);
  for (auto& t : rec.threads) {
    if (t.start_ns < rec.start_ns) t.start_ns = rec.start_ns;
    if (t.end_ns == 0 || t.end_ns > rec.end_ns) t.end_ns = rec.end_ns;
  }
}

}  // namespace

Recording Session::cut_window() {
  State& s = *s_;
  const uint64_t now = monotonic_ns();
  s.rec.end_ns = now;
  s.snap->snapshot(read_tgids(s.target_maps.tgids.get()), now);
  for (auto& c : s.collectors) c->cut(s.rec);
  s.reduction->reduce(s.rec, /*final=*/true);
  for (auto& c : s.collectors) c->settle(s.rec);
  // What the next window starts from: the processes with their maps, the threads alive.
  Recording next;
  next.ccprof_version = s.rec.ccprof_version;
  next.mode = s.rec.mode;
  next.command = s.rec.command;
  next.hostname = s.rec.hostname;
  next.kernel = s.rec.kernel;
  next.online_cpus = s.rec.online_cpus;
  next.memory_sampler = s.rec.memory_sampler;
  next.profile_mode = s.rec.profile_mode;
  next.processes = s.rec.processes;
  for (const auto& t : s.rec.threads)
    if (t.end_ns == 0) next.threads.push_back(t);
  for (const auto& [k, v] : s.not_started) next.losses[k] += v;
  next.start_ns = now;
  next.target_files = s.rec.target_files;  // the session's (see window_files)
  Recording out = std::exchange(s.rec, std::move(next));
  out.target_files = s.snap->window_files(out);
  close_recording(out, *s.snap);
  s.reduction = std::make_unique<StackReduction>(s.opts.stack_reducer, s.opts.keep_stack_bytes);
  return out;
}

namespace {

// SessionOptions::finish_nice, for the calling thread only (on Linux the nice value is
// a thread's own): the thread that drains, unwinds and writes from here on. The
// target's threads are never touched, and ccprof's threads started before (the CPython
// frame sampler) keep theirs.
//
// With the scheduler's autogroups (kernel.sched_autogroup_enabled, on by default in
// Debian's kernels) a nice value only orders the threads of one session: each session
// is one group with an equal share of a CPU whatever its threads' nice values, so
// against a server started in its own session (any daemon) the thread's nice changes
// nothing (a 60 s MariaDB profile: the same 1.5 s with -20 as with -10; memcached's
// outputs waited 1.2 s for a CPU to run 0.3 s). The session's group then takes the same
// nice (/proc/self/autogroup) until release_finish_priority() puts its own back (a
// ccprof killed before that leaves it to the session, as `renice` would). Tasks
// in a cgroup of their own (a systemd service under cgroup v2's cpu controller) are
// scheduled by their cgroup's weight instead, which ccprof leaves alone.
std::optional<int> g_saved_autogroup_nice;

bool read_small_file(const char* path, std::string* text) {
  std::ifstream f(path);
  if (!f) return false;
  std::getline(f, *text);
  return true;
}

std::optional<int> autogroup_nice() {
  std::string text;
  if (!read_small_file("/proc/self/autogroup", &text)) return std::nullopt;
  const size_t at = text.find(" nice ");
  if (at == std::string::npos) return std::nullopt;
  int nice = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text.substr(at + 6)), &nice)) return std::nullopt;
  return nice;
}

bool set_autogroup_nice(int nice) {
  const int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const std::string text = std::to_string(nice);
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

void take_finish_priority(int nice) {
  if (nice == 0) return;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  if (setpriority(PRIO_PROCESS, tid, nice) != 0) {
    spdlog::debug("finish priority: cannot set nice {} ({}): the outputs share the CPUs as before", nice,
                  strerror(errno));
    return;
  }
  spdlog::debug("finish priority: nice {} for the outputs", nice);
  std::string enabled;
  if (!read_small_file("/proc/sys/kernel/sched_autogroup_enabled", &enabled) ||
      absl::StripAsciiWhitespace(enabled) != "1")
    return;
  const std::optional<int> before = autogroup_nice();
  if (!before || *before <= nice) return;
  if (!set_autogroup_nice(nice)) {
    spdlog::debug("finish priority: cannot set the session's autogroup nice {} ({})", nice, strerror(errno));
    return;
  }
  g_saved_autogroup_nice = *before;
  spdlog::debug("finish priority: the session's autogroup nice {} (was {})", nice, *before);
}

}  // namespace

void release_finish_priority() {
  if (!g_saved_autogroup_nice) return;
  if (!set_autogroup_nice(*g_saved_autogroup_nice))
    spdlog::warn("cannot put the session's autogroup nice back to {} ({}): `echo {} > /proc/{}/autogroup` does",
                 *g_saved_autogroup_nice, strerror(errno), *g_saved_autogroup_nice, getpid());
  g_saved_autogroup_nice.reset();
}

Recording Session::stop() {
  State& s = *s_;
  s.stopped = true;
  take_finish_priority(s.opts.finish_nice);
  Recording& rec = s.rec;
  rec.end_ns = monotonic_ns();
  if (!s.target_gone) s.snap->snapshot(read_tgids(s.target_maps.tgids.get()), rec.end_ns);
  for (auto& c : s.collectors) c->finish(rec);
  s.reduction->reduce(rec, /*final=*/true);
  for (auto& c : s.collectors) c->settle(rec);
  // Detach on a thread of its own: closing the tracepoint links waits for the kernel
  // (~60 ms each here), which need not delay the analysis. join_detach() waits for it.
  {
    std::lock_guard<std::mutex> lock(detach_mutex());
    if (detach_thread().joinable()) detach_thread().join();
    detach_thread() = std::thread([cs = std::move(s.collectors)]() mutable { cs.clear(); });
  }
  close_recording(rec, *s.snap);
  spdlog::debug("session ended: {}; {} /proc snapshots in {:.1f} s", s.stop_reason, s.snapshots,
                (rec.end_ns - rec.start_ns) / 1e9);
  if (s.child && !s.target_gone) {
    // Duration reached or interrupted while the launched target still runs: the user asked
    // to stop, so it is stopped, gracefully first, and always reaped (target_stop.h).
    TargetStop stop = stop_launched_target(s.child->pid, s.stop_reason == "interrupted", kTargetGraceS,
                                           [] { return g_stop_requested >= 2; });
    spdlog::debug("target stop: {}", stop.log);
    const int status = stop.wait_status;
    rec.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return std::move(rec);
}

absl::StatusOr<Recording> run_session(const SessionOptions& opts) {
  auto session = Session::start(opts);
  if (!session.ok()) return session.status();
  const uint64_t deadline =
      opts.duration_s > 0 ? (*session)->start_ns() + static_cast<uint64_t>(opts.duration_s * 1e9) : 0;
  (*session)->run_until(deadline, opts.on_progress);
  return (*session)->stop();
}

}  // namespace ccprof::agent
