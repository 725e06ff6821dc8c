#include "cli/serve_command.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <iterator>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_format.h"
#include "agent/proc.h"
#include "agent/session.h"
#include "profiler/analysis.h"
#include "profiler/online_reducer.h"
#include "report/export_pprof.h"
#include "report/export_profile.h"
#include "report/findings_json.h"
#include "report/metrics.h"
#include "report/pprof_merge.h"
#include "spdlog/spdlog.h"

namespace ccprof::cli {
namespace {

// The profiles of one window, serialized pprof (not yet gzipped).
struct WindowProfiles {
  double seconds = 0;
  std::string contention, offcpu;
};

// /debug/pprof/...?seconds=N merges the newest windows that cover N seconds, from the
// windows of the last 10 minutes (at most 600 windows, ~100 KB each).
constexpr double kProfileHistorySeconds = 600;
// Targets of one agent: each has its own probes and sampler, so their cost adds up.
constexpr size_t kMaxTargets = 16;
// Windows of one target recorded but not yet analysed, at most (each holds its recording).
constexpr size_t kMaxPendingWindows = 3;
constexpr size_t kProfileHistoryWindows = 600;

// What the HTTP thread serves; the findings and metrics are replaced after each window,
// the profiles kept for the history above.
struct Served {
  std::mutex mu;
  report::MetricsRegistry metrics;
  // The last window's findings.json of each target, in the order given ("pid=42" -> doc).
  std::vector<std::pair<std::string, std::string>> findings;
  std::deque<WindowProfiles> windows;  // oldest first, every target's
};

// One target as given on the command line: its labels are the value given (bounded by
// the command line), never a pid found later (a --comm target restarts with new pids).
struct Target {
  uint32_t pid = 0;  // --pid
  std::string comm;  // --comm
  report::MetricsRegistry::Labels labels() const {
    return pid ? report::MetricsRegistry::Labels{{"pid", std::to_string(pid)}}
               : report::MetricsRegistry::Labels{{"comm", comm}};
  }
  std::string key() const { return pid ? "pid=" + std::to_string(pid) : "comm=" + comm; }
};

// The part of a query string ("seconds=30&pid=7") that starts with `key=` (the first one).
std::optional<std::string> query_value(const std::string& query, absl::string_view key) {
  for (absl::string_view part : absl::StrSplit(query, '&'))
    if (absl::ConsumePrefix(&part, key) && absl::ConsumePrefix(&part, "=")) return std::string(part);
  return std::nullopt;
}

// `seconds` from a query string; 0 when absent or not a positive number.
double query_seconds(const std::string& query) {
  double v = 0;
  auto text = query_value(query, "seconds");
  return text && absl::SimpleAtod(*text, &v) && v > 0 && std::isfinite(v) ? v : 0;
}



// The gzipped profile of one window, or of several merged (given newest first).
absl::StatusOr<std::string> profile_body(std::vector<std::string> newest_first) {
  std::reverse(newest_first.begin(), newest_first.end());
  if (newest_first.size() == 1) return report::gzip_bytes(newest_first[0]);
  std::vector<const std::string*> parts;
  for (const auto& p : newest_first) parts.push_back(&p);
  auto merged = report::merge_pprof(parts);
  if (!merged.ok()) return merged.status();
  return report::gzip_bytes(*merged);
}

double own_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

absl::Status parse_listen(const std::string& text, sockaddr_in* addr) {
  auto colon = text.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(colon + 1), &port) || port == 0 || port > 65535)
    return absl::InvalidArgumentError("--listen must be IPV4:PORT (for example 127.0.0.1:9464), not '" + text + "'");
  *addr = {};
  addr->sin_family = AF_INET;
  addr->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &addr->sin_addr) != 1)
    return absl::InvalidArgumentError("--listen: '" + text.substr(0, colon) + "' is not an IPv4 address");
  return absl::OkStatus();
}

void respond(int fd, const std::string& status, const std::string& type, const std::string& body,
             const std::string& extra = "") {
  std::string head = absl::StrFormat("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n",
                                     status, type, body.size(), extra);
  std::string all = head + body;
  for (size_t off = 0; off < all.size();) {
    ssize_t n = send(fd, all.data() + off, all.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// /findings: one target's findings.json as it is; with several, each under its target
// ({"targets": [{"target": "pid=42", "findings": {...}}, ...]}) or the one that
// ?pid=N / ?comm=NAME names.
void respond_findings(int fd, const Served& served, const std::string& query) {
  for (const char* key : {"pid", "comm"})
    if (auto v = query_value(query, key)) {
      for (const auto& [target, doc] : served.findings)
        if (target == std::string(key) + "=" + *v) return respond(fd, "200 OK", "application/json", doc);
      return respond(fd, "404 Not Found", "text/plain", "no such target (or no complete window yet)\n");
    }
  if (served.findings.size() == 1) return respond(fd, "200 OK", "application/json", served.findings[0].second);
  if (served.findings.empty()) return respond(fd, "200 OK", "application/json", "{}\n");
  std::string body = "{\"targets\": [";
  for (size_t i = 0; i < served.findings.size(); ++i)
    body += absl::StrFormat("%s\n{\"target\": \"%s\", \"findings\": %s}", i ? "," : "",
                            served.findings[i].first, served.findings[i].second);
  respond(fd, "200 OK", "application/json", body + "]}\n");
}

void handle(int fd, Served& served) {
  // Requests are small: read until the end of the headers (or 8 KiB, or 2 s).
  std::string req;
  char buf[2048];
  pollfd p{fd, POLLIN, 0};
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192 && poll(&p, 1, 2000) > 0) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  auto sp1 = req.find(' '), sp2 = req.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return respond(fd, "400 Bad Request", "text/plain", "bad request\n");
  std::string method = req.substr(0, sp1), target = req.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string path = target.substr(0, target.find('?'));
  if (method != "GET") return respond(fd, "405 Method Not Allowed", "text/plain", "GET only\n");
  std::unique_lock<std::mutex> lock(served.mu);
  if (path == "/metrics")
    return respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", served.metrics.render(own_cpu_s()));
  if (path == "/findings")
    return respond_findings(fd, served, target.size() > path.size() ? target.substr(path.size() + 1) : "");
  if (path == "/debug/pprof/contention" || path == "/debug/pprof/offcpu") {
    // Copy the windows the request covers, then merge and compress without the lock.
    const double want = query_seconds(target.size() > path.size() ? target.substr(path.size() + 1) : "");
    std::vector<std::string> picked;
    double covered = 0;
    for (auto it = served.windows.rbegin(); it != served.windows.rend(); ++it) {
      const std::string& p = path.back() == 'n' ? it->contention : it->offcpu;
      if (p.empty()) continue;  // that window had no such profile
      picked.push_back(p);
      covered += it->seconds;
      if (covered >= want) break;
    }
    lock.unlock();
    if (picked.empty()) return respond(fd, "503 Service Unavailable", "text/plain", "no complete window yet\n");
    auto body = profile_body(std::move(picked));
    if (!body.ok()) return respond(fd, "500 Internal Server Error", "text/plain", std::string(body.status().message()) + "\n");
    return respond(fd, "200 OK", "application/octet-stream", *body,
                   absl::StrFormat("Content-Disposition: attachment; filename=\"profile\"\r\n"
                                   "X-Ccprof-Profile-Seconds: %.3f\r\n",
                                   covered));
  }
  respond(fd, "404 Not Found", "text/plain",
          "ccprof serve: /metrics /findings /debug/pprof/contention /debug/pprof/offcpu\n");
}

// Analyses one window of one target and publishes it.
void publish(model::Recording rec, double window_s, const Target& target, Served& served) {
  profiler::Analysis analysis = profiler::analyze(rec);
  nlohmann::json doc = report::build_findings_document(rec, analysis, /*snippets=*/false);
  auto index = profiler::build_index(rec);
  const profiler::Index& ctx = *index;
  WindowProfiles w;
  w.seconds = window_s;
  std::map<std::string, double> by_reason;
  w.contention = report::encode_pprof(report::build_contention_profile(ctx), rec);
  if (auto p = report::build_offcpu_profile(ctx); p.ok()) {
    for (const auto& s : p->samples) by_reason[s.labels.at("reason")] += s.values[0] / 1e9;
    w.offcpu = report::encode_pprof(*p, rec);
  }
  std::string findings = doc.dump(2) + "\n";
  std::lock_guard<std::mutex> lock(served.mu);
  served.metrics.add_window(doc, by_reason, window_s, target.labels());
  auto it = std::find_if(served.findings.begin(), served.findings.end(),
                         [&](const auto& f) { return f.first == target.key(); });
  if (it == served.findings.end()) served.findings.emplace_back(target.key(), std::move(findings));
  else it->second = std::move(findings);
  served.windows.push_back(std::move(w));
  double kept_s = 0;
  for (const auto& x : served.windows) kept_s += x.seconds;
  while (served.windows.size() > kProfileHistoryWindows ||
         (served.windows.size() > 1 && kept_s - served.windows.front().seconds >= kProfileHistorySeconds)) {
    kept_s -= served.windows.front().seconds;
    served.windows.pop_front();
  }
}

// Profiles one target until SIGINT/SIGTERM: waits for it, attaches once, cuts windows,
// and after its exit waits for it again (a --comm target that restarts is followed).
void profile_target(const ServeCommand& cmd, const Target& target, double window_s, Served& served) {
  // The windows' analyses run one after the other, off the session's thread, which keeps
  // draining and cutting; when kMaxPendingWindows wait, the session waits for the oldest.
  std::deque<std::shared_future<void>> analysing;
  uint32_t failed_pid = 0;
  while (!agent::g_stop_requested) {
    uint32_t pid = target.pid ? target.pid : find_process_by_comm(target.comm);
    if (pid == 0 || (target.pid && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
      { std::lock_guard<std::mutex> lock(served.mu); served.metrics.set_target(0, target.labels()); }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // wait for the target (again)
      continue;
    }
    { std::lock_guard<std::mutex> lock(served.mu); served.metrics.set_target(pid, target.labels()); }
    agent::SessionOptions opts;
    opts.mode = agent::SessionOptions::Mode::kAttach;
    opts.pid = pid;
    opts.memory_sampler = cmd.sampler;
    opts.sampler_clock = cmd.sampler_clock;
    opts.sampler_budget = cmd.sampler_budget < 0 ? -1 : cmd.sampler_budget / 100;
    opts.continuous = cmd.cost_mode == "continuous";
    opts.sched = !cmd.no_sched;
    opts.stack_reducer = profiler::make_online_reducer();
    // Attached once per target: windows are cut from one session, so nothing that
    // happens between two windows is lost (a re-attach per window lost 39% of the wait).
    auto session = agent::Session::start(opts);
    if (!session.ok()) {
      // Once per target: a target that just exited fails every retry until it is gone.
      if (pid != failed_pid) spdlog::warn("profiling pid {}: {}", pid, std::string(session.status().message()));
      failed_pid = pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      continue;
    }
    const uint64_t window_ns = static_cast<uint64_t>(window_s * 1e9);
    uint64_t cut_at = (*session)->start_ns();
    for (bool alive = true; alive;) {
      // Cuts on a fixed grid from the attach: a slow cut does not shift the next ones;
      // a cut that fell behind (a long analysis) skips to the next point ahead.
      const uint64_t now = agent::monotonic_ns();
      do cut_at += window_ns;
      while (cut_at <= now);
      alive = (*session)->run_until(cut_at);
      const uint64_t cut_start = agent::monotonic_ns();
      model::Recording rec = alive ? (*session)->cut_window() : (*session)->stop();
      const uint64_t cut_end = agent::monotonic_ns();
      spdlog::debug("serve {}: window of {:.3f} s cut in {:.1f} ms, {} analyses pending", target.key(),
                    rec.duration_s(), (cut_end - cut_start) / 1e6, analysing.size());
      while (!analysing.empty() &&
             (analysing.size() >= kMaxPendingWindows ||
              analysing.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready)) {
        analysing.front().get();
        analysing.pop_front();
      }
      std::shared_future<void> previous = analysing.empty() ? std::shared_future<void>() : analysing.back();
      double len = rec.duration_s();
      analysing.push_back(std::async(std::launch::async, [r = std::move(rec), len, previous, &target, &served]() mutable {
                            if (previous.valid()) previous.wait();  // published in order
                            publish(std::move(r), len, target, served);
                          }).share());
    }
    session->reset();
    agent::join_detach();
    // Every window of this target is published before it is said to be down.
    for (auto& a : analysing) a.get();
    analysing.clear();
  }
}

}  // namespace

uint32_t find_process_by_comm(const std::string& comm) {
  DIR* d = opendir("/proc");
  if (!d) return 0;
  uint32_t best = 0;
  while (dirent* e = readdir(d)) {
    uint32_t pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/comm");
    std::string c;
    if (!std::getline(f, c) || c != comm || (best != 0 && pid > best)) continue;
    // A zombie keeps its comm until reaped, but there is nothing left to attach to.
    if (!agent::process_exists(pid)) continue;
    best = pid;
  }
  closedir(d);
  return best;
}

void register_serve_command(CLI::App& app, ServeCommand& cmd) {
  cmd.sub = app.add_subcommand("serve", "profile a process in back-to-back windows and serve /metrics "
                                        "(Prometheus), /findings and /debug/pprof/contention|offcpu");
  cmd.sub->add_option("--listen", cmd.listen, "IPv4:PORT to bind, e.g. 127.0.0.1:9464 (binds only there)")
      ->required();
  cmd.sub->add_option("-p,--pid", cmd.pids, "processes to profile (repeatable; at most 16 targets in all)");
  cmd.sub->add_option("--comm", cmd.comms, "profile the process with this comm (repeatable); looked up again "
                                           "after it exits, so a restarted target is followed");
  cmd.sub->add_option("--window", cmd.window_text, "length of one profiling window (10s, 500ms, 2m)")
      ->capture_default_str();
  cmd.sub->add_option("--sampler", cmd.sampler, "memory-access sampler: auto, decode, pmu or off")
      ->capture_default_str();
  cmd.sub->add_option("--sampler-clock", cmd.sampler_clock,
                      "decode mode's clock: timer (its own) or tick (the scheduler's tick, at the kernel's HZ)")
      ->check(CLI::IsMember({"timer", "tick"}))
      ->capture_default_str();
  cmd.sub->add_option("--sampler-budget", cmd.sampler_budget,
                      "decode mode: the memory sampler's CPU budget in percent of all CPUs (default 0.5 in continuous "
                      "mode, 1.5 in default mode; 0: none); over it the sampler halves its rate for the window")
      ->check(CLI::Range(0.0, 100.0));
  cmd.sub->add_flag("--no-sched", cmd.no_sched, "do not run the scheduler/syscall collector");
  cmd.sub->add_option("--mode", cmd.cost_mode,
                      "continuous (the always-on mode: at most ~1% overhead, what it gives up is in `ccprof doctor`) "
                      "or default (every collector at its full rate)")
      ->check(CLI::IsMember({"default", "continuous"}))
      ->capture_default_str();
}

absl::Status run_serve(const ServeCommand& cmd, double window_s) {
  if (cmd.pids.empty() && cmd.comms.empty()) return absl::InvalidArgumentError("serve needs --pid PID or --comm NAME");
  if (cmd.pids.size() + cmd.comms.size() > kMaxTargets)
    return absl::InvalidArgumentError(absl::StrFormat("serve profiles at most %d targets (each has its own probes)",
                                                      kMaxTargets));
  for (uint32_t pid : cmd.pids)
    if (pid == 0) return absl::InvalidArgumentError("--pid 0 is not a process");
  {
    std::set<std::string> seen;
    for (uint32_t pid : cmd.pids)
      if (!seen.insert("pid=" + std::to_string(pid)).second) return absl::InvalidArgumentError(absl::StrCat("--pid ", pid, " given twice"));
    for (const auto& c : cmd.comms)
      if (!seen.insert("comm=" + c).second) return absl::InvalidArgumentError("--comm " + c + " given twice");
  }
  sockaddr_in addr{};
  if (auto s = parse_listen(cmd.listen, &addr); !s.ok()) return s;
  if (auto s = agent::check_privileges(); !s.ok()) return s;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 16) != 0) {
    std::string why = strerror(errno);
    if (lfd >= 0) close(lfd);
    return absl::UnavailableError("cannot listen on " + cmd.listen + ": " + why);
  }
  std::fprintf(stdout, "ccprof: serving http://%s/metrics (windows of %.3g s)\n", cmd.listen.c_str(), window_s);
  std::fflush(stdout);

  Served served;
  std::thread http([&] {
    while (!agent::g_stop_requested) {
      pollfd p{lfd, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handle(fd, served);
      close(fd);
    }
  });

  // One thread per target, each with its own session (its own probes, filtered by its
  // tgid) and its own windows.
  std::vector<Target> targets;
  for (uint32_t pid : cmd.pids) targets.push_back({.pid = pid});
  for (const auto& comm : cmd.comms) targets.push_back({.comm = comm});
  std::vector<std::thread> profilers;
  for (const Target& t : targets)
    profilers.emplace_back([&cmd, &served, window_s, t] { profile_target(cmd, t, window_s, served); });
  for (auto& t : profilers) t.join();
  http.join();
  close(lfd);
  return absl::OkStatus();
}

}  // namespace ccprof::cli
