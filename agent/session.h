#pragma once
// A profiling session: launch or attach to the target, start every collector, drain
// them until the target exits / the duration ends / the user interrupts, and return
// the Recording. Kernel access lives here and in the collectors only.
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/recording.h"

namespace ccprof::agent {

// What the session reports while it runs (every ~250 ms).
struct SessionProgress {
  double elapsed_s = 0;
  uint32_t pid = 0;
  uint64_t events = 0, drops = 0;
};

struct SessionOptions {
  enum class Mode { kRun, kAttach };
  Mode mode = Mode::kRun;
  std::vector<std::string> command;  // kRun
  uint32_t pid = 0;                  // kAttach
  double duration_s = 0;             // 0: until the target exits (kRun) or Ctrl-C (kAttach)
  std::function<void(const SessionProgress&)> on_progress;  // e.g. a status line on a terminal
  bool follow_children = true;
  std::string memory_sampler = "auto";  // auto | decode | pmu | off
  uint32_t sample_hz = 0;               // 0: the sampler's default
  std::string sampler_clock = "timer";  // decode mode: timer | tick (memory_sampler.h)
  // Decode mode's CPU budget, a share of all CPUs (agent/sampler_budget.h); < 0: the
  // mode's (1.5% default, 0.5% continuous); 0: none.
  double sampler_budget = -1;
  bool sched = true;                    // the scheduler/syscall collector
  // Unwinds stack copies and trims memory samples' stack windows on the drain thread
  // (the cli hands over the profiler's, model/stack_frames.h); null: raw bytes stay.
  std::shared_ptr<model::TargetMemoryReducer> stack_reducer;
  bool keep_stack_bytes = false;  // keep raw stack bytes and registers too (target memory!)
  // The always-on mode (`--mode continuous`, `ccprof serve`): every collector at a lower
  // cost, what that gives up in continuous_mode().gives_up.
  bool continuous = false;
  // The nice value (-20..19) the thread that finishes the session takes at the window's
  // end, before it drains what is left, unwinds and writes the outputs; the threads it
  // starts from then on (the recording's encoder) inherit it. 0: unchanged. On a server
  // that keeps every CPU busy, ccprof's ~1 s of CPU for its outputs otherwise waits
  // behind the server's threads (seconds of wall time); the CPU it takes is the same
  // either way, only sooner. With the scheduler's autogroups, ccprof's session takes it
  // too until release_finish_priority() (session.cc). Needs CAP_SYS_NICE (root has it);
  // without, unchanged.
  int finish_nice = 0;
};

// The always-on mode's settings (one place: the session, `ccprof doctor` and the report
// all say the same).
struct ContinuousSettings {
  uint32_t sample_hz = 97;                // memory sampler, per CPU (default 499 decode, 997 PMU)
  uint32_t futex_stacks_per_window = 2;   // waiter stack copies per lock per 100 ms (default 16)
  uint64_t wait_stride = 16;              // 1 in N wait events sent from the start (default 1)
  uint32_t syscall_stacks_per_window = 1; // per blocking-syscall site per 100 ms (default 4)
  bool lock_rate_windows = false;         // lock-rate/hold uprobe windows (default on)
  bool cpu_timeline = false;              // every run of every thread (default on)
  uint64_t drain_interval_ns = 100'000'000;     // the agent's wake-ups (default 20 ms)
  uint64_t snapshot_interval_ns = 1'000'000'000;  // /proc maps and threads (default 100 ms)
};
inline constexpr ContinuousSettings kContinuous{};

// "default", or "continuous" with what it gives up, one sentence each.
model::ProfileMode profile_mode(bool continuous);

// Set from a signal handler to stop the session early; outputs are still written.
extern volatile std::sig_atomic_t g_stop_requested;

// Checks root or CAP_BPF + CAP_PERFMON; the message names what is missing.
absl::Status check_privileges();

// A session whose probes stay attached while what it collects is cut into windows
// (`ccprof serve`): start() attaches, run_until() drains, cut_window() hands over what
// was collected since the last cut without detaching anything (no gap between two
// windows), stop() detaches. run_session() is start + run_until + stop.
class Session {
 public:
  // Launches or attaches (opts.mode) and attaches every collector; opts.duration_s and
  // opts.on_progress are read by run_session only.
  static absl::StatusOr<std::unique_ptr<Session>> start(const SessionOptions& opts);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Drains the collectors every ~20 ms until `until_ns` (CLOCK_MONOTONIC; 0: no limit),
  // the target's exit or a stop request. False once the target is gone or a stop was
  // requested: then only stop() is left.
  bool run_until(uint64_t until_ns, const std::function<void(const SessionProgress&)>& on_progress = {});
  // The recording of the window since the last cut (or the start); the next window
  // starts now, with the probes still attached.
  model::Recording cut_window();
  // The last window; the probes are detached on a background thread (join_detach()).
  model::Recording stop();
  uint32_t target() const;
  uint64_t start_ns() const;

 private:
  struct State;
  explicit Session(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// Returns once everything is collected; the probes are detached on a background
// thread while the caller analyses: call join_detach() before exiting.
absl::StatusOr<model::Recording> run_session(const SessionOptions& opts);
void join_detach();

// Puts back the session's autogroup nice that SessionOptions::finish_nice changed, if it
// did: call once the outputs are written (and before exiting).
void release_finish_priority();

}  // namespace ccprof::agent
