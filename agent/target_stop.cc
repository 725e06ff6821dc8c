#include "agent/target_stop.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {

volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_stop_signal_from_terminal = 0;

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Waits up to `seconds` for `pid` to exit; true (and its status) when it did.
bool wait_for_exit(pid_t pid, double seconds, int* status, const std::function<bool()>& hurry) {
  const double until = now_s() + seconds;
  while (true) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) {
      *status = 0;  // not our child any more (reaped elsewhere): nothing left to stop
      return true;
    }
    if (now_s() >= until || (hurry && hurry())) return false;
    timespec nap{0, 10'000'000};
    nanosleep(&nap, nullptr);
  }
}

}  // namespace

TargetStop stop_launched_target(pid_t pid, bool interrupted, double grace_s, const std::function<bool()>& hurry) {
  TargetStop out;
  const std::string grace = absl::StrFormat("%.0f s", grace_s);
  if (interrupted) {
    const int sig = g_stop_signal;
    if (sig != 0 && !g_stop_signal_from_terminal) {
      kill(pid, sig);  // the target did not get it from the terminal: pass it on
      absl::StrAppend(&out.log, "forwarded signal ", sig, "; ");
    }
    if (wait_for_exit(pid, grace_s, &out.wait_status, hurry)) {
      absl::StrAppend(&out.log, "the target exited on its own");
      return out;
    }
  }
  if (!(hurry && hurry())) {
    if (interrupted)
      spdlog::warn("target pid {} still runs {} after the interrupt: sending SIGTERM", pid, grace);
    kill(pid, SIGTERM);
    out.sent_term = true;
    absl::StrAppend(&out.log, "sent SIGTERM; ");
    if (wait_for_exit(pid, grace_s, &out.wait_status, hurry)) {
      absl::StrAppend(&out.log, "the target exited");
      return out;
    }
    spdlog::warn("target pid {} still runs {} after SIGTERM: sending SIGKILL", pid, grace);
  } else {
    spdlog::warn("interrupted again: sending SIGKILL to target pid {}", pid);
  }
  kill(pid, SIGKILL);
  out.sent_kill = true;
  absl::StrAppend(&out.log, "sent SIGKILL");
  while (waitpid(pid, &out.wait_status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

bool die_with_parent(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return true;  // best effort: the stop above still reaps it
  return getppid() == parent;  // ccprof died before the prctl: it would never fire
}

}  // namespace ccprof::agent
