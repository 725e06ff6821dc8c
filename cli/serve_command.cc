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
#include <thread>

#include "absl/strings/numbers.h"
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
constexpr size_t kProfileHistoryWindows = 600;

// What the HTTP thread serves; the findings and metrics are replaced after each window,
// the profiles kept for the history above.
struct Served {
  std::mutex mu;
  report::MetricsRegistry metrics;
  std::string findings = "{}\n";
  std::deque<WindowProfiles> windows;  // oldest first
};

// `seconds` from a query string ("seconds=30&x=y"); 0 when absent or not a positive number.
double query_seconds(const std::string& query) {
  for (absl::string_view part : absl::StrSplit(query, '&')) {
    double v = 0;
    if (absl::ConsumePrefix(&part, "seconds=") && absl::SimpleAtod(part, &v) && v > 0 && std::isfinite(v)) return v;
  }
  return 0;
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
  if (path == "/findings") return respond(fd, "200 OK", "application/json", served.findings);
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

// Analyses one window and publishes it.
void publish(model::Recording rec, double window_s, Served& served) {
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
  served.metrics.add_window(doc, by_reason, window_s);
  served.findings = std::move(findings);
  served.windows.push_back(std::move(w));
  double kept_s = 0;
  for (const auto& x : served.windows) kept_s += x.seconds;
  while (served.windows.size() > kProfileHistoryWindows ||
         (served.windows.size() > 1 && kept_s - served.windows.front().seconds >= kProfileHistorySeconds)) {
    kept_s -= served.windows.front().seconds;
    served.windows.pop_front();
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
  auto* pid = cmd.sub->add_option("-p,--pid", cmd.pid, "the process to profile");
  auto* comm = cmd.sub->add_option("--comm", cmd.comm, "profile the process with this comm; looked up again "
                                                       "before every window, so a restarted target is followed");
  pid->excludes(comm);
  cmd.sub->add_option("--window", cmd.window_text, "length of one profiling window (10s, 500ms, 2m)")
      ->capture_default_str();
  cmd.sub->add_option("--sampler", cmd.sampler, "memory-access sampler: auto, decode, pmu or off")
      ->capture_default_str();
  cmd.sub->add_flag("--no-sched", cmd.no_sched, "do not run the scheduler/syscall collector");
}

absl::Status run_serve(const ServeCommand& cmd, double window_s) {
  if (cmd.pid == 0 && cmd.comm.empty()) return absl::InvalidArgumentError("serve needs --pid PID or --comm NAME");
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

  std::future<void> analysing;  // the previous window's analysis runs while the next one records
  uint32_t failed_pid = 0;
  while (!agent::g_stop_requested) {
    uint32_t pid = cmd.pid ? cmd.pid : find_process_by_comm(cmd.comm);
    if (pid == 0 || (cmd.pid && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
      { std::lock_guard<std::mutex> lock(served.mu); served.metrics.set_target(0); }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // wait for the target (again)
      continue;
    }
    { std::lock_guard<std::mutex> lock(served.mu); served.metrics.set_target(pid); }
    agent::SessionOptions opts;
    opts.mode = agent::SessionOptions::Mode::kAttach;
    opts.pid = pid;
    opts.memory_sampler = cmd.sampler;
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
      model::Recording rec = alive ? (*session)->cut_window() : (*session)->stop();
      if (analysing.valid()) analysing.get();
      double len = rec.duration_s();
      analysing = std::async(std::launch::async, [r = std::move(rec), len, &served]() mutable {
        publish(std::move(r), len, served);
      });
    }
    session->reset();
    agent::join_detach();
  }
  if (analysing.valid()) analysing.get();
  http.join();
  close(lfd);
  return absl::OkStatus();
}

}  // namespace ccprof::cli
