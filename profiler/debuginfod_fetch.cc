#include "profiler/debuginfod_fetch.h"

#include <elfutils/debuginfod.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "model/printable.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {
namespace {

// One query (one module) waits at most this long: a server on the LAN answers a cached
// file in milliseconds and streams a 50 MB debug file in a few seconds.
constexpr double kDebuginfodQuerySeconds = 5;
// All queries of one ccprof process together: a target with 40 libraries and a server
// that answers slowly costs at most this, never minutes.
constexpr double kDebuginfodBudgetSeconds = 15;

using Clock = std::chrono::steady_clock;

struct State {
  std::mutex mu;
  debuginfod_client* client = nullptr;
  bool disabled = false;  // after a server error: the next modules would fail the same way
  std::string disabled_why;
  double spent_s = 0;
  Clock::time_point deadline;
};

State& state() {
  static State s;
  return s;
}

// libdebuginfod calls this while it transfers (and while it waits, about once a second);
// a non-zero return aborts the query.
int past_deadline(debuginfod_client*, long, long) { return Clock::now() > state().deadline ? 1 : 0; }

enum class Wanted { kDebugInfo, kExecutable };

DebuginfodAnswer ask(const unsigned char* build_id, int len, Wanted wanted) {
  DebuginfodAnswer a;
  const char* urls = getenv(DEBUGINFOD_URLS_ENV_VAR);
  if (!urls || !*urls) {
    a.error = "debuginfod not asked ($DEBUGINFOD_URLS is not set)";
    return a;
  }
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.disabled) {
    a.error = s.disabled_why;
    return a;
  }
  if (s.spent_s >= kDebuginfodBudgetSeconds) {
    a.error = absl::StrCat("debuginfod not asked: its time budget of ", kDebuginfodBudgetSeconds,
                           " s for this profile is spent");
    return a;
  }
  if (!s.client) {
    s.client = debuginfod_begin();
    if (!s.client) {
      s.disabled = true;
      s.disabled_why = "debuginfod client could not start";
      a.error = s.disabled_why;
      return a;
    }
    debuginfod_set_progressfn(s.client, past_deadline);
  }
  const double limit = std::min(kDebuginfodQuerySeconds, kDebuginfodBudgetSeconds - s.spent_s);
  const auto start = Clock::now();
  s.deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit));
  char* path = nullptr;
  const int fd = wanted == Wanted::kDebugInfo ? debuginfod_find_debuginfo(s.client, build_id, len, &path)
                                               : debuginfod_find_executable(s.client, build_id, len, &path);
  s.spent_s += std::chrono::duration<double>(Clock::now() - start).count();
  if (fd >= 0) {
    a.fd = fd;
    a.path = path ? path : "";
    free(path);
    return a;
  }
  free(path);
  const std::string where = model::printable(urls);
  // Checked first: an aborted query returns -ENOENT like a real "not found".
  if (Clock::now() > s.deadline) {
    a.error = absl::StrCat("no answer from ", where, " within ", limit, " s");
    s.disabled = true;  // the next modules would wait as long again
    s.disabled_why = absl::StrCat("debuginfod not asked: ", where, " did not answer within ", limit, " s before");
  } else if (fd == -ENOENT) {
    a.error = absl::StrCat("not found on ", where);
  } else {
    a.error = absl::StrCat("debuginfod ", where, ": ", strerror(-fd));
    s.disabled = true;
    s.disabled_why = absl::StrCat("debuginfod not asked after an error: ", a.error);
  }
  spdlog::debug("debuginfod: {} (after {:.1f} s)", a.error,
                std::chrono::duration<double>(Clock::now() - start).count());
  return a;
}

}  // namespace

DebuginfodAnswer debuginfod_debug_file(const unsigned char* build_id, int len) {
  return ask(build_id, len, Wanted::kDebugInfo);
}

DebuginfodAnswer debuginfod_executable(const unsigned char* build_id, int len) {
  return ask(build_id, len, Wanted::kExecutable);
}

}  // namespace ccprof::profiler
