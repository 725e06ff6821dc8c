#pragma once
// The end of a launched target's life when the profile stops before it exits (Ctrl-C,
// --duration, a signal to ccprof). ccprof must never exit leaving the target it
// wrapped running, orphaned and unprofiled; and a target should get to finish its
// own shutdown (flush files, remove its pid file) before anything harsher.
#include <sys/types.h>

#include <csignal>
#include <functional>
#include <string>

namespace ccprof::agent {

// How long a target gets at each step: after the interrupt it received itself (or the
// signal ccprof forwarded), and again after SIGTERM, before SIGKILL. Stated in every
// message that escalates; long enough for a clean shutdown that flushes to disk.
inline constexpr double kTargetGraceS = 3.0;

// Set by the CLI's signal handler: the last signal that asked ccprof to stop, and
// whether it came from the terminal (si_code SI_KERNEL: Ctrl-C, hangup), which
// delivers it to the target too, being in the same foreground process group. A signal
// sent to ccprof alone (kill, a supervisor) is forwarded to the target instead.
extern volatile std::sig_atomic_t g_stop_signal;
extern volatile std::sig_atomic_t g_stop_signal_from_terminal;

struct TargetStop {
  int wait_status = 0;
  bool sent_term = false, sent_kill = false;
  std::string log;  // what was done, for the debug log
};

// Stops launched child `pid` and reaps it. `interrupted`: the profile ended on a signal
// (the target got it too, or it is forwarded now) and the target first gets
// kTargetGraceS to exit on its own; otherwise (--duration) it gets SIGTERM at once.
// Then SIGTERM, kTargetGraceS, SIGKILL. `hurry()` true (a second Ctrl-C) skips to
// SIGKILL. Every escalation is said on the warning log with the grace period.
TargetStop stop_launched_target(pid_t pid, bool interrupted, double grace_s = kTargetGraceS,
                                const std::function<bool()>& hurry = {});

// In the child between fork and exec: have the kernel SIGKILL it if ccprof dies
// without reaping it (kill -9, a crash). `parent` is ccprof's pid before the fork.
// PR_SET_PDEATHSIG fires when the *thread* that forked exits: fork from a thread that
// outlives the target (run_session runs on the main thread).
// Returns false when ccprof is already gone (the child should exit).
bool die_with_parent(pid_t parent);

}  // namespace ccprof::agent
