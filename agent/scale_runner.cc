#include "agent/scale_runner.h"

#include "agent/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/session.h"
#include "agent/unique_fd.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {
namespace {

std::string shown(const std::vector<std::string>& argv) { return absl::StrJoin(argv, " "); }

// The last non-empty line of a command's stderr, for an error message.
std::string last_line(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipWhitespace());
  if (lines.empty()) return "";
  std::string l = lines.back();
  if (l.size() > 200) l = l.substr(0, 200) + "...";
  return l;
}

absl::StatusOr<std::regex> compile_metric(const std::string& metric) {
  try {
    return std::regex(metric, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("--metric '", metric, "' is not a valid regex: ", e.what()));
  }
}

absl::StatusOr<double> extract_with(const std::string& out, const std::regex& re, const std::string& metric) {
  std::smatch m;
  if (!std::regex_search(out, m, re)) return absl::NotFoundError(absl::StrCat("its output has no match for --metric '", metric, "'"));
  std::string text = m.size() > 1 ? m[1].str() : m[0].str();
  double v = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(text), &v) || !std::isfinite(v) || v < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--metric '", metric, "' matched '", text, "', which is not a number >= 0"));
  return v;
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t k = values.size() / 2;
  return values.size() % 2 ? values[k] : (values[k - 1] + values[k]) / 2;
}

absl::StatusOr<std::vector<int>> parse_thread_counts(const std::string& text) {
  std::vector<int> out;
  std::set<int> seen;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int n = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &n) || n < 1 || n > 100000)
      return absl::InvalidArgumentError(
          absl::StrCat("--threads: '", part, "' is not a thread count (a whole number >= 1; example: 1,2,4,8,16)"));
    if (!seen.insert(n).second) return absl::InvalidArgumentError(absl::StrCat("--threads: ", n, " is listed twice"));
    out.push_back(n);
  }
  if (out.empty()) return absl::InvalidArgumentError("--threads: no thread counts (example: 1,2,4,8,16)");
  return out;
}

std::vector<std::string> substitute_threads(const std::vector<std::string>& command, int threads) {
  std::vector<std::string> argv;
  for (const auto& a : command) argv.push_back(absl::StrReplaceAll(a, {{kThreadsPlaceholder, std::to_string(threads)}}));
  return argv;
}

absl::StatusOr<CommandResult> run_command(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("no command to run");
  auto start = std::chrono::steady_clock::now();
  auto launched = launch(argv, LaunchOptions{.capture_output = true});
  if (!launched.ok()) return launched.status();
  const pid_t pid = launched->pid;
  UniqueFd out_r = std::move(launched->out_fd), err_r = std::move(launched->err_fd);
  CommandResult result;
  // Exec failures are known before any output: the child wrote its errno and exited.
  if (auto s = wait_for_exec(*launched, argv[0]); !s.ok()) return absl::NotFoundError(s.message());

  // Read until both pipes close, or until kOutputGraceS after the command exits: a
  // process it started in the background inherits the pipes and may hold them open for
  // as long as it runs, and the command's own exit is what is measured (waiting for EOF
  // alone, `ccprof scale` hung for as long as such a process lived).
  // The command's exit wakes the poll through a pidfd (readable once it has exited), and
  // the exit is looked for every 100 ms as well (no pidfd, or its wake-up coming a moment
  // before waitpid can reap).
  UniqueFd exit_fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  struct pollfd fds[3] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}, {exit_fd.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2, status = 0;
  bool reaped = false;
  std::chrono::steady_clock::time_point exited;
  char buf[65536];
  auto since_exit = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - exited).count(); };
  while (open_fds > 0) {
    if (!reaped) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        reaped = true;
        exited = std::chrono::steady_clock::now();
        fds[2].fd = -1;
      }
    }
    if (reaped && since_exit() >= kOutputGraceS) {
      result.output_left_open = true;
      break;
    }
    int wait_ms = reaped ? std::max(1, static_cast<int>((kOutputGraceS - since_exit()) * 1000)) : 100;
    int ready = poll(fds, 3, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, n);
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (!reaped) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    exited = std::chrono::steady_clock::now();
  }
  result.wall_s = std::chrono::duration<double>(exited - start).count();
  if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  } else {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

absl::StatusOr<double> extract_metric(const std::string& out, const std::string& metric) {
  auto re = compile_metric(metric);
  if (!re.ok()) return re.status();
  return extract_with(out, *re, metric);
}

absl::StatusOr<ScaleMeasurements> measure_scaling(const ScaleOptions& opts) {
  if (opts.command.empty()) return absl::InvalidArgumentError("no command to run (put it after --)");
  bool has_placeholder = std::any_of(opts.command.begin(), opts.command.end(), [](const std::string& a) {
    return a.find(kThreadsPlaceholder) != std::string::npos;
  });
  if (!has_placeholder)
    return absl::InvalidArgumentError(absl::StrCat("the command has no ", kThreadsPlaceholder,
                                                   " argument: every thread count would run the same thing (example: "
                                                   "-- ./server --workers={threads})"));
  if (opts.threads.empty()) return absl::InvalidArgumentError("--threads: no thread counts");
  if (opts.runs < 1) return absl::InvalidArgumentError("--runs must be at least 1");
  std::regex re;
  if (!opts.metric.empty()) {
    auto compiled = compile_metric(opts.metric);
    if (!compiled.ok()) return compiled.status();
    re = *std::move(compiled);
  }

  ScaleMeasurements m;
  m.metric = opts.metric.empty() ? "1 / wall time (runs per second)"
                                 : absl::StrCat("first number matching --metric '", opts.metric, "' in stdout");
  for (int n : opts.threads) {
    ScaleStep step;
    step.threads = n;
    step.argv = substitute_threads(opts.command, n);
    m.steps.push_back(std::move(step));
  }
  // Rounds: every thread count once per round, rather than all runs of one count in a
  // row, so that a slow spell of the machine (other load) spreads over all counts
  // instead of bending the curve at one of them.
  for (int r = 0; r < opts.runs; ++r) {
    for (auto& step : m.steps) {
      const int n = step.threads;
      if (g_stop_requested) return absl::CancelledError("interrupted: no outputs written");
      auto where = [&] {
        return absl::StrFormat("at %d thread%s, run %d of %d (%s)", n, n == 1 ? "" : "s", r + 1, opts.runs,
                               shown(step.argv));
      };
      auto res = run_command(step.argv);
      if (!res.ok()) return absl::Status(res.status().code(), absl::StrCat(where(), ": ", res.status().message()));
      if (res->signal)
        return absl::AbortedError(
            absl::StrCat(where(), ": killed by signal ", res->signal, " (", strsignal(res->signal), ")"));
      if (res->exit_code != 0) {
        std::string why = last_line(res->err);
        return absl::AbortedError(
            absl::StrCat(where(), ": exited with status ", res->exit_code, why.empty() ? "" : ": " + why));
      }
      if (res->output_left_open)
        spdlog::warn("scale: {}: a process the command left running kept its output open; what it wrote more "
                     "than {:.0f} s after the command exited was not read",
                     where(), kOutputGraceS);
      double x = 0;
      if (opts.metric.empty()) {
        x = res->wall_s > 0 ? 1 / res->wall_s : 0;
      } else {
        auto v = extract_with(res->out, re, opts.metric);
        if (!v.ok()) return absl::Status(v.status().code(), absl::StrCat(where(), ": ", v.status().message()));
        x = *v;
      }
      step.throughputs.push_back(x);
      step.wall_s.push_back(res->wall_s);
      spdlog::info("scale: {} threads, run {}/{}: throughput {:.6g} ({:.2f} s)", n, r + 1, opts.runs, x, res->wall_s);
    }
  }
  for (auto& step : m.steps) step.median = median(step.throughputs);
  return m;
}

}  // namespace ccprof::agent
