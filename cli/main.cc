// ccprof: parses the command line and wires agent -> profiler -> report.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <regex>
#include <set>

#include <CLI/CLI.hpp>

#include "absl/strings/str_split.h"
#include "agent/capabilities.h"
#include "agent/session.h"
#include "agent/target_stop.h"
#include "cli/diff_command.h"
#include "cli/export_command.h"
#include "cli/scale_command.h"
#include "cli/serve_command.h"
#include "model/printable.h"
#include "model/recording.h"
#include "profiler/analysis.h"
#include "profiler/online_reducer.h"
#include "profiler/printable_log.h"
#include "report/findings_json.h"
#include "report/output_set.h"
#include "report/outputs.h"
#include "report/terminal.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

using namespace ccprof;

constexpr int kExitError = 1;
constexpr int kExitFindings = 3;  // --fail-on matched

int fail(const std::string& message) {
  // Messages name paths and commands from the target or a recording: shown, not executed.
  std::fprintf(stderr, "ccprof: error: %s\n", model::printable(message).c_str());
  return kExitError;
}

// Counts the requests (a second Ctrl-C hurries the target's stop) and notes whether the
// terminal sent it, which delivers it to a launched target too (agent/target_stop.h).
void on_signal(int sig, siginfo_t* info, void*) {
  agent::g_stop_signal = sig;
  agent::g_stop_signal_from_terminal = info && info->si_code == SI_KERNEL;
  agent::g_stop_requested = agent::g_stop_requested + 1;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: a nap in the drain loop ends at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  // A write to a launched child that a Ctrl-C already ended must fail, not kill ccprof.
  signal(SIGPIPE, SIG_IGN);
}

// "10", "10s", "500ms", "2m" -> seconds
bool parse_duration(const std::string& s, double* out) {
  std::smatch m;
  static const std::regex re(R"(^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*$)");
  if (!std::regex_match(s, m, re)) return false;
  double v = std::stod(m[1]);
  std::string unit = m[2];
  if (unit == "ms") v /= 1000;
  else if (unit == "m") v *= 60;
  *out = v;
  return v > 0;
}

struct GateOptions {
  std::string fail_on;  // comma-separated kinds or "all"
  double min_cost = 0;  // thread-seconds
};

// Exit code 3 when a finding of a gated kind (with at least min_cost) was raised.
bool gate_matches(const nlohmann::json& doc, const GateOptions& g, std::string* which) {
  if (g.fail_on.empty()) return false;
  std::set<std::string> kinds;
  for (auto k : absl::StrSplit(g.fail_on, ',', absl::SkipEmpty())) kinds.insert(std::string(k));
  for (const auto& f : doc.value("findings", nlohmann::json::array())) {
    std::string kind = f.value("kind", "");
    if (!kinds.count("all") && !kinds.count(kind)) continue;
    if (f["cost"].value("thread_seconds", 0.0) < g.min_cost) continue;
    *which = kind;
    return true;
  }
  return false;
}

int emit(const model::Recording& rec, const std::string& out_dir, bool write_recording, const GateOptions& gate,
         int exit_code) {
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const auto t0 = Clock::now();
  const auto usage = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru;
  };
  const auto cpu_s = [](const rusage& ru) {
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  // This thread's time on a CPU and waiting for one (/proc/thread-self/schedstat): whether
  // the outputs were slow for their work or for the CPUs the target kept busy.
  const auto schedstat = [] {
    std::array<double, 2> out{};
    if (FILE* f = std::fopen("/proc/thread-self/schedstat", "r")) {
      unsigned long long on = 0, waiting = 0;
      if (std::fscanf(f, "%llu %llu", &on, &waiting) == 2) out = {on / 1e9, waiting / 1e9};
      std::fclose(f);
    }
    return out;
  };
  const auto sched0 = schedstat();
  const rusage ru0 = usage();
  // A live profile's recording is encoded on a second thread while the analysis runs:
  // both only read `rec`, and on a big profile each takes seconds (MariaDB under load,
  // 60 s window: ~38 MB of recording), so the outputs come that much sooner after the
  // window's end.
  std::future<std::string> encoded;
  double encode_s = 0;
  if (write_recording)
    encoded = std::async(std::launch::async, [&rec, &encode_s, &seconds_since] {
      const auto t = Clock::now();
      std::string bytes = model::encode_recording(rec);
      encode_s = seconds_since(t);
      return bytes;
    });
  // The encoded file, or why there is none (its exception, rethrown by get()).
  std::string recording_file, encode_error;
  const auto take_recording = [&] {
    try {
      recording_file = encoded.get();
    } catch (const std::exception& e) {
      encode_error = e.what();
    }
    return encode_error.empty();
  };
  nlohmann::json doc;
  double analysed_s = 0;
  try {
    profiler::Analysis analysis = profiler::analyze(rec);
    analysed_s = seconds_since(t0);
    doc = report::build_findings_document(rec, analysis);
  } catch (const std::exception& e) {
    // A malformed recording (or a bug) must not abort ccprof. A live profile's
    // recording is still kept, alone, so that it can be re-analysed.
    std::string kept;
    if (write_recording && take_recording() && report::write_recording_alone(std::move(recording_file), out_dir).ok())
      kept = std::string("; the recording was saved as ") + out_dir + "/" + report::kRecordingFile;
    return fail(std::string("cannot analyse the recording: ") + e.what() + kept);
  }
  const double analyse_s = seconds_since(t0);
  if (write_recording && !take_recording()) return fail("cannot encode the recording: " + encode_error);
  const double waited_s = seconds_since(t0) - analyse_s;
  if (auto s = report::write_outputs(doc, write_recording ? &recording_file : nullptr, out_dir); !s.ok())
    return fail(std::string(s.message()));
  const auto sched1 = schedstat();
  spdlog::debug("outputs: analysis {:.3f} s (findings document from {:.3f} s), recording encoded beside it in {:.3f} s ({:.3f} s waited for), "
                "outputs written at {:.3f} s, {:.3f} s of CPU, {} page faults that read from disk; "
                "this thread {:.3f} s on a CPU, {:.3f} s waiting for one",
                analyse_s, analysed_s, encode_s, waited_s, seconds_since(t0), cpu_s(usage()) - cpu_s(ru0),
                usage().ru_majflt - ru0.ru_majflt, sched1[0] - sched0[0], sched1[1] - sched0[1]);
  std::fputs(report::render_terminal_summary(doc, out_dir).c_str(), stdout);
  std::fflush(stdout);
  std::string which;
  if (gate_matches(doc, gate, &which)) {
    std::fprintf(stderr, "ccprof: --fail-on: a %s finding was raised; exiting with %d\n", which.c_str(),
                 kExitFindings);
    return kExitFindings;
  }
  return exit_code;
}

// Once the outputs are written, freeing a big profile (the recording, the reducer's and
// the analysis' debug info) is pure delay: ~0.5 s after a 60 s MariaDB profile. The
// outputs are complete files by now (output_set.h), so wait for the probes' detach
// (as main() does), flush and leave.
[[noreturn]] void exit_without_freeing(int code) {
  agent::release_finish_priority();
  agent::join_detach();
  std::fflush(nullptr);
  spdlog::shutdown();
  std::_Exit(code);
}

}  // namespace

int ccprof_main(int argc, char** argv) {
  CLI::App app{"ccprof: why your threads are slow together, and what to change"};
  app.require_subcommand(1);
  int verbose = 0;
  app.add_flag("-v,--verbose", verbose, "debug logging (-vv: also per-second detail, e.g. the memory sampler's cost)");

  std::string out_dir = "ccprof-out";
  std::string duration_text;
  GateOptions gate;
  std::string sampler = "auto";
  uint32_t sample_hz = 0;
  std::string sampler_clock = "timer";
  double sampler_budget = -1;
  bool no_sched = false;
  bool keep_stack_bytes = false;
  std::string cost_mode = "default";
  int finish_nice = -10;

  // The options `run` and `attach` share.
  auto add_profile_options = [&](CLI::App* sub, const char* duration_help) {
    sub->add_option("-o,--output", out_dir, "output folder")->capture_default_str();
    sub->add_option("--duration", duration_text, duration_help);
    sub->add_option("--fail-on", gate.fail_on, "exit 3 when a finding of these kinds (comma-separated, or all) is raised");
    sub->add_option("--min-cost", gate.min_cost, "with --fail-on: only findings costing at least this many thread-seconds");
    sub->add_option("--sampler", sampler, "memory-access sampler: auto, decode, pmu or off")->capture_default_str();
    sub->add_option("--sample-hz", sample_hz,
                    "memory-sampler samples per second per CPU (default 499, 997 with a PMU, 97 in continuous mode); "
                    "each sample costs the target an interrupt, and fewer samples find fewer cache-line problems")
        ->check(CLI::Range(1u, 20000u));
    sub->add_option("--sampler-clock", sampler_clock,
                    "decode mode's clock: timer (its own, at --sample-hz) or tick (the scheduler's tick, at the "
                    "kernel's HZ: no interrupt of its own, but fewer samples where HZ is 250 or less)")
        ->check(CLI::IsMember({"timer", "tick"}))
        ->capture_default_str();
    sub->add_option("--sampler-budget", sampler_budget,
                    "decode mode: the memory sampler's CPU budget in percent of all CPUs (default 1.5, 0.5 in "
                    "continuous mode; 0: none); over it the sampler halves its rate, and the report says so")
        ->check(CLI::Range(0.0, 100.0));
    sub->add_flag("--no-sched", no_sched, "do not run the scheduler/syscall collector");
    sub->add_option("--mode", cost_mode,
                    "default, or continuous: the always-on mode (at most ~1% overhead; what it gives up is in "
                    "`ccprof doctor` and the report)")
        ->check(CLI::IsMember({"default", "continuous"}))
        ->capture_default_str();
    sub->add_option("--finish-nice", finish_nice,
                    "the nice value ccprof takes at the profile's end to write its outputs (0: unchanged), and its "
                    "session's scheduler autogroup with it until they are written; on a server that keeps every CPU "
                    "busy its CPU for them otherwise waits seconds behind the server's threads")
        ->check(CLI::Range(-20, 19))
        ->capture_default_str();
    sub->add_flag("--keep-stack-bytes", keep_stack_bytes,
                  "also keep the raw stack bytes and registers copied from the target in the recording: they hold "
                  "the target's memory (environment, buffers, secrets); by default only unwound addresses are kept");
  };
  auto* run = app.add_subcommand("run", "launch a command with the probes attached and profile it until it exits");
  std::vector<std::string> command;
  add_profile_options(run, "stop after this long (10, 10s, 500ms, 2m)");
  run->add_option("command", command, "the command to profile (after --)")->required();

  auto* attach = app.add_subcommand("attach", "profile a running process (all its threads, present and future)");
  uint32_t pid = 0;
  attach->add_option("-p,--pid", pid, "process id")->required();
  add_profile_options(attach, "stop after this long (default: until Ctrl-C or the process exits)");

  // `ccprof scale` (cli/scale_command.cc): USL fit over thread counts.
  auto* scale = app.add_subcommand("scale", "run a command at several thread counts, fit the Universal Scalability "
                                            "Law and report the peak");
  cli::ScaleCommandOptions scale_opts;
  scale->add_option("-o,--output", scale_opts.out_dir, "output folder")->capture_default_str();
  scale->add_option("--threads", scale_opts.threads, "thread counts to run, comma-separated; {threads} in the command "
                                                     "becomes each")->capture_default_str();
  scale->add_option("--runs", scale_opts.runs, "runs per thread count (the median is used)")->capture_default_str();
  scale->add_option("--metric", scale_opts.metric, "regex over the command's stdout whose first group is its "
                                                   "throughput (default: 1 / wall time)");
  scale->add_option("--fail-on", gate.fail_on, "exit 3 when a finding of these kinds (or all) is raised");
  scale->add_option("--min-cost", gate.min_cost, "with --fail-on: minimum cost in thread-seconds");
  scale->add_option("--sampler", sampler, "memory-access sampler of the profiled run: auto, decode, pmu or off")
      ->capture_default_str();
  scale->add_flag("--no-sched", no_sched, "do not run the scheduler/syscall collector in the profiled run");
  bool scale_no_profile = false;
  scale->add_flag("--no-profile", scale_no_profile, "do not profile the largest thread count (no source locations)");
  scale->add_option("command", scale_opts.command, "the command, with {threads} in its arguments (after --)")
      ->required();

  auto* rep = app.add_subcommand("report", "re-analyse a saved recording (no root needed) and rewrite the outputs");
  std::string recording_path;
  rep->add_option("recording", recording_path, "a recording.ccprof file")->required();
  rep->add_option("-o,--output", out_dir, "output folder")->capture_default_str();
  rep->add_option("--fail-on", gate.fail_on, "exit 3 when a finding of these kinds is raised");
  rep->add_option("--min-cost", gate.min_cost, "with --fail-on: minimum cost in thread-seconds");

  cli::ExportCommand export_cmd;
  cli::register_export_command(app, export_cmd);
  cli::DiffCommand diff_cmd;
  cli::register_diff_command(app, diff_cmd);
  cli::ServeCommand serve_cmd;
  cli::register_serve_command(app, serve_cmd);

  auto* doctor = app.add_subcommand("doctor", "say what this machine lets ccprof do, and which mode each collector uses");
  auto* catalog = app.add_subcommand("catalog", "print the finding kinds and loss counters ccprof knows, as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  // Warnings and debug lines on stderr: stdout carries the summary (and may be piped).
  spdlog::set_default_logger(spdlog::stderr_color_mt("ccprof"));
  spdlog::set_level(verbose >= 2 ? spdlog::level::trace : verbose ? spdlog::level::debug : spdlog::level::warn);
  spdlog::set_formatter(profiler::printable_log_formatter("ccprof: %^%l%$: %*"));

  double duration = 0;
  if (!duration_text.empty() && !parse_duration(duration_text, &duration))
    return fail("--duration: '" + duration_text + "' is not a duration (examples: 10, 10s, 500ms, 2m)");
  if (sampler != "auto" && sampler != "decode" && sampler != "pmu" && sampler != "off")
    return fail("--sampler must be auto, decode, pmu or off");
  if (sample_hz && sampler_clock == "tick")
    return fail("--sample-hz sets a timer's rate; --sampler-clock tick samples at the kernel's HZ");

  if (catalog->parsed()) {
    std::fputs((report::catalog_json().dump(2) + "\n").c_str(), stdout);
    return 0;
  }

  if (doctor->parsed()) {
    agent::Capabilities caps = agent::probe_capabilities();
    std::fputs(agent::format_doctor(caps).c_str(), stdout);
    std::string why;
    if (!agent::can_profile(caps, &why)) return fail(why);
    return 0;
  }

  if (scale->parsed()) {
    if (auto s = report::prepare_output_dir(scale_opts.out_dir); !s.ok()) return fail(std::string(s.message()));
    install_signal_handlers();
    scale_opts.sampler = sampler;
    scale_opts.sched = !no_sched;
    scale_opts.profile = !scale_no_profile;
    auto doc = cli::run_scale(scale_opts);
    if (!doc.ok()) return fail(std::string(doc.status().message()));
    std::string which;
    if (gate_matches(*doc, gate, &which)) {
      std::fprintf(stderr, "ccprof: --fail-on: a %s finding was raised; exiting with %d\n", which.c_str(),
                   kExitFindings);
      return kExitFindings;
    }
    return 0;
  }

  if (export_cmd.sub->parsed()) {
    auto s = cli::run_export(export_cmd);
    return s.ok() ? 0 : fail(std::string(s.message()));
  }

  if (serve_cmd.sub->parsed()) {
    double window = 0;
    if (!parse_duration(serve_cmd.window_text, &window))
      return fail("--window: '" + serve_cmd.window_text + "' is not a duration (examples: 10s, 500ms, 2m)");
    install_signal_handlers();
    auto s = cli::run_serve(serve_cmd, window);
    return s.ok() ? 0 : fail(std::string(s.message()));
  }

  if (diff_cmd.sub->parsed()) {
    auto diff = cli::run_diff(diff_cmd);
    if (!diff.ok()) return fail(std::string(diff.status().message()));
    if (diff_cmd.fail_on_regression && diff->value("regression", false)) {
      std::fprintf(stderr, "ccprof: --fail-on-regression: a finding is new or regressed; exiting with %d\n",
                   kExitFindings);
      return kExitFindings;
    }
    return 0;
  }

  if (rep->parsed()) {
    if (auto s = report::prepare_output_dir(out_dir); !s.ok()) return fail(std::string(s.message()));
    auto rec = model::load_recording(recording_path);
    if (!rec.ok()) return fail(std::string(rec.status().message()));
    exit_without_freeing(emit(*rec, out_dir, /*write_recording=*/false, gate, 0));
  }

  agent::SessionOptions opts;
  opts.duration_s = duration;
  bool status_shown = false;
  if (isatty(STDERR_FILENO))
    opts.on_progress = [&status_shown](const agent::SessionProgress& p) {
      std::fprintf(stderr, "\r\033[Kccprof: %5.1f s  pid %u  events %llu  drops %llu", p.elapsed_s, p.pid,
                   static_cast<unsigned long long>(p.events), static_cast<unsigned long long>(p.drops));
      std::fflush(stderr);
      status_shown = true;
    };
  opts.memory_sampler = sampler;
  opts.sample_hz = sample_hz;
  opts.sampler_clock = sampler_clock;
  opts.sampler_budget = sampler_budget < 0 ? -1 : sampler_budget / 100;
  opts.sched = !no_sched;
  opts.stack_reducer = profiler::make_online_reducer();
  opts.keep_stack_bytes = keep_stack_bytes;
  opts.continuous = cost_mode == "continuous";
  opts.finish_nice = finish_nice;
  if (run->parsed()) {
    opts.mode = agent::SessionOptions::Mode::kRun;
    opts.command = command;
  } else {
    opts.mode = agent::SessionOptions::Mode::kAttach;
    opts.pid = pid;
  }
  // Missing privileges, then an unwritable output folder: both fail now, not after the
  // whole profile ran.
  if (auto s = agent::check_privileges(); !s.ok()) return fail(std::string(s.message()));
  if (auto s = report::prepare_output_dir(out_dir); !s.ok()) return fail(std::string(s.message()));
  install_signal_handlers();
  auto rec = agent::run_session(opts);
  if (status_shown) std::fprintf(stderr, "\r\033[K");  // clear the status line
  if (!rec.ok()) return fail(std::string(rec.status().message()));
  if (agent::g_stop_requested) std::fprintf(stderr, "ccprof: interrupted: writing what was collected\n");
  int code = opts.mode == agent::SessionOptions::Mode::kRun ? std::max(rec->exit_code, 0) : 0;
  exit_without_freeing(emit(*rec, out_dir, /*write_recording=*/true, gate, code));
}

int main(int argc, char** argv) {
  int rc = ccprof_main(argc, argv);
  agent::release_finish_priority();
  agent::join_detach();  // the probes are detached on a thread while the outputs are written
  return rc;
}
