#include "cli/scale_command.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "profiler/text.h"
#include "absl/strings/str_join.h"
#include "agent/scale_runner.h"
#include "agent/session.h"
#include "profiler/analysis.h"
#include "profiler/online_reducer.h"
#include "model/printable.h"
#include "profiler/predicted_gain.h"
#include "profiler/scale_rules.h"
#include "profiler/thresholds.h"
#include "report/findings_json.h"
#include "report/outputs.h"
#include "report/scaling_svg.h"
#include "spdlog/spdlog.h"

namespace ccprof::cli {
namespace {

using nlohmann::json;


std::string pad(std::string s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }

// The recording that stands in for a profile when none was taken (no retrograde
// region, or profiling failed): it gives the document its usual header.
model::Recording unprofiled(const ScaleCommandOptions& opts, const std::string& why) {
  model::Recording r;
  r.ccprof_version = model::kCcprofVersion;
  r.mode = "scale";
  r.command = opts.command;
  r.exit_code = 0;
  struct utsname u {};
  if (uname(&u) == 0) {
    r.hostname = u.nodename;
    r.kernel = u.release;
  }
  r.online_cpus = static_cast<uint32_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  r.memory_sampler.mode = "off";
  r.memory_sampler.reason = why;
  return r;
}

std::string summary(const json& doc, const profiler::UslFit& fit, const profiler::RetrogradeVerdict& v,
                    const std::string& out_dir) {
  const json& t = doc["scale"];
  std::string out = absl::StrFormat("ccprof scale: %s\n", absl::StrJoin(t["command"].get<std::vector<std::string>>(), " "));
  out += absl::StrFormat("throughput: %s; %d run%s per thread count, median\n\n", t.value("metric", ""),
                         t.value("runs", 0), t.value("runs", 0) == 1 ? "" : "s");
  out += "threads  throughput  fitted      runs\n-------  ----------  ----------  ----\n";
  for (const auto& p : t["points"]) {
    std::vector<std::string> runs;
    for (const auto& r : p["runs"]) runs.push_back(profiler::si_number(r.get<double>()));
    out += absl::StrFormat("%s  %s  %s  %s\n", pad(std::to_string(p.value("threads", 0)), 7),
                           pad(profiler::si_number(p.value("throughput", 0.0)), 10), pad(profiler::si_number(p.value("fitted", 0.0)), 10),
                           absl::StrJoin(runs, " "));
  }
  out += "\n";
  if (fit.fitted) {
    out += absl::StrFormat("USL fit: alpha=%.4g (contention)  beta=%.4g (coherency)  lambda=%s  R^2=%.3f\n", fit.alpha,
                           fit.beta, profiler::si_number(fit.lambda), fit.r2);
    if (fit.has_peak())
      out += absl::StrFormat("peak: N*=%.2f (best whole N=%d, %s); throughput declines beyond N=%d\n", fit.peak_n,
                             fit.peak_n_whole, profiler::si_number(fit.peak_throughput), fit.peak_n_whole);
    else
      out += absl::StrFormat("peak: none (beta=0): throughput levels off at %s instead of declining\n",
                             profiler::si_number(fit.peak_throughput));
  } else {
    out += "USL fit: none: " + fit.note + "\n";
  }
  out += absl::StrFormat("retrograde region: %s: %s\n\n", v.retrograde ? "yes" : "no", v.reason);

  const json findings = doc.value("findings", json::array());
  if (findings.empty()) {
    out += "No findings: throughput does not fall within the measured range.\n";
  } else {
    for (const auto& f : findings) {
      out += absl::StrFormat("%d  %s  %.2f thr-s (%.0f%%)  remedy: %s\n", f.value("rank", 0), f.value("kind", ""),
                             f["cost"].value("thread_seconds", 0.0), f["cost"].value("share", 0.0) * 100,
                             f["remedy"].value("kind", ""));
      for (const auto& l : f.value("locations", json::array()))
        out += absl::StrFormat("   at %s %s:%d\n", model::printable(l.value("function", "")),
                               model::printable(std::filesystem::path(l.value("file", "")).filename().string()),
                               l.value("line", 0));
    }
    // Names and paths in these come from the target: shown, not executed.
    out += "\n" + model::printable(findings[0].value("title", "")) + "\n  " +
           model::printable(findings[0].value("explanation", "")) + "\n";
  }
  out += absl::StrFormat("\noutputs: %s/findings.json, %s/report.html, %s/%s\n", out_dir, out_dir, out_dir,
                         report::kScalingSvgFile);
  return out;
}

}  // namespace

absl::StatusOr<json> run_scale(const ScaleCommandOptions& opts) {
  auto threads = agent::parse_thread_counts(opts.threads);
  if (!threads.ok()) return threads.status();
  if (static_cast<int>(threads->size()) < profiler::thresholds::kScaleMinThreadCounts)
    return absl::InvalidArgumentError(absl::StrFormat(
        "--threads: %d thread count%s given; the USL fit needs at least %d (example: 1,2,4,8,16)", threads->size(),
        threads->size() == 1 ? "" : "s", profiler::thresholds::kScaleMinThreadCounts));
  std::sort(threads->begin(), threads->end());

  agent::ScaleOptions so;
  so.command = opts.command;
  so.threads = *threads;
  so.runs = opts.runs;
  so.metric = opts.metric;
  auto measured = agent::measure_scaling(so);
  if (!measured.ok()) return measured.status();

  profiler::ScaleStudy study;
  study.command = opts.command;
  study.metric = measured->metric;
  study.runs = opts.runs;
  for (const auto& s : measured->steps) study.steps.push_back({s.threads, s.throughputs, s.wall_s, s.median});
  double wall_s = 0;
  if (opts.metric.empty() && profiler::runs_for_a_fixed_time(study, &wall_s))
    return absl::FailedPreconditionError(absl::StrFormat(
        "every run took about %.2f s whatever the thread count: the command runs for a fixed time, so 1 / wall time "
        "is flat and says nothing about scaling. Give --metric REGEX for the throughput the command prints "
        "(e.g. --metric 'throughput=([0-9.]+)')",
        wall_s));
  auto fit = profiler::fit_study(study);
  if (!fit.ok()) return absl::Status(fit.status().code(), absl::StrCat("cannot fit the USL: ", fit.status().message()));
  profiler::RetrogradeVerdict verdict = profiler::assess_retrograde(study, *fit);

  // Wall-clock runs cannot say which source line makes threads coordinate: profile one
  // run at the largest N (the normal `ccprof run` pipeline) and take its contended
  // lock's call sites as the finding's locations.
  const int largest = threads->back();
  model::Recording rec = unprofiled(opts, "ccprof scale takes wall-clock measurements; no profile was needed");
  profiler::Analysis profile;
  std::vector<profiler::SourceLocation> sites;
  std::string sites_what;
  json sites_lock;  // the profile's lock those sites take, shown with the finding
  if (verdict.retrograde && opts.profile) {
    agent::SessionOptions session;
    session.mode = agent::SessionOptions::Mode::kRun;
    session.command = agent::substitute_threads(opts.command, largest);
    session.memory_sampler = opts.sampler;
    session.sched = opts.sched;
    session.stack_reducer = profiler::make_online_reducer();
    spdlog::info("scale: profiling one run at {} threads", largest);
    // The profiled run's own output is not the summary's business: send it to /dev/null.
    int saved_stdout = dup(STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    std::fflush(stdout);
    if (saved_stdout >= 0 && devnull >= 0) dup2(devnull, STDOUT_FILENO);
    auto profiled = agent::run_session(session);
    if (saved_stdout >= 0 && devnull >= 0) dup2(saved_stdout, STDOUT_FILENO);
    if (devnull >= 0) close(devnull);
    if (saved_stdout >= 0) close(saved_stdout);
    if (profiled.ok()) {
      rec = *std::move(profiled);
      profile = profiler::analyze(rec);
      sites = profiler::contention_sites(profile, &sites_what, &sites_lock);
    } else {
      spdlog::warn("cannot profile the run at {} threads, so the finding has no source location: {}", largest,
                   std::string(profiled.status().message()));
      rec = unprofiled(opts, absl::StrCat("the profile at the largest N failed: ", profiled.status().message()));
    }
  }

  profiler::Analysis doc_analysis;
  doc_analysis.tables = profile.tables;
  doc_analysis.tables["scale"] = profiler::scale_table(study, *fit, verdict);
  doc_analysis.tables["scale"]["profiled_threads"] = verdict.retrograde && opts.profile ? json(largest) : json(nullptr);
  if (auto f = profiler::retrograde_finding(study, *fit, verdict, sites, sites_what, largest)) {
    if (!sites_lock.is_null()) f->evidence["lock"] = sites_lock;
    doc_analysis.findings.push_back(*std::move(f));
  }
  profiler::predict_gains(doc_analysis.findings, {rec.online_cpus, rec.duration_s()});
  json doc = report::build_findings_document(rec, doc_analysis);
  doc["target"]["mode"] = "scale";
  doc["target"]["command"] = opts.command;
  if (rec.mode != "scale") doc["target"]["profiled_command"] = rec.command;

  if (auto s = report::write_outputs(doc, nullptr, opts.out_dir); !s.ok()) return s;

  std::fputs(summary(doc, *fit, verdict, opts.out_dir).c_str(), stdout);
  std::fflush(stdout);
  return doc;
}

}  // namespace ccprof::cli
