#include "profiler/scale_rules.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "profiler/catalog.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

namespace th = thresholds;
using nlohmann::json;


json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The fitted model and its parameters, as the finding's evidence and the scale table show them.
json fit_json(const UslFit& fit) {
  return {{"model", "X(N) = lambda * N / (1 + alpha*(N-1) + beta*N*(N-1))"},
          {"fitted", fit.fitted},
          {"note", fit.note},
          {"alpha", fit.alpha},
          {"beta", fit.beta},
          {"lambda", fit.lambda},
          {"r2", fit.r2},
          {"rmse", fit.rmse},
          {"peak_n", finite_or_null(fit.peak_n)},
          {"peak_n_whole", fit.peak_n_whole},
          {"peak_throughput", finite_or_null(fit.peak_throughput)},
          {"retrograde_beyond_n", fit.has_peak() ? json(fit.peak_n_whole) : json(nullptr)}};
}

// What was measured against the fit: the best and the largest thread counts.
json verdict_json(const RetrogradeVerdict& v) {
  return {{"measured_peak_threads", v.measured_peak_threads},
          {"measured_peak_throughput", v.measured_peak},
          {"largest_threads", v.largest_threads},
          {"throughput_at_largest", v.at_largest},
          {"drop_share", v.drop}};
}

std::string threads_word(int n) { return count_of(n, "thread", "threads"); }

}  // namespace

absl::StatusOr<UslFit> fit_study(const ScaleStudy& study) {
  std::vector<UslPoint> pts;
  for (const auto& s : study.steps) pts.push_back({static_cast<double>(s.threads), s.median});
  return fit_usl(pts);
}

bool runs_for_a_fixed_time(const ScaleStudy& study, double* median_wall_s) {
  std::vector<double> medians;
  for (const auto& s : study.steps) {
    std::vector<double> w = s.wall_s;
    if (w.empty()) return false;
    std::sort(w.begin(), w.end());
    medians.push_back(w[w.size() / 2]);
  }
  if (medians.size() < 2) return false;
  if (median_wall_s) *median_wall_s = medians.front();
  const auto [lo, hi] = std::minmax_element(medians.begin(), medians.end());
  return *lo > 0 && (*hi - *lo) / *lo <= th::kScaleFixedTimeMaxSpread;
}

RetrogradeVerdict assess_retrograde(const ScaleStudy& study, const UslFit& fit) {
  RetrogradeVerdict v;
  if (study.steps.empty()) {
    v.reason = "nothing was measured";
    return v;
  }
  const ScaleStudy::Step* largest = &study.steps.front();
  const ScaleStudy::Step* best = &study.steps.front();
  for (const auto& s : study.steps) {
    if (s.threads > largest->threads) largest = &s;
    if (s.median > best->median) best = &s;
  }
  v.measured_peak_threads = best->threads;
  v.measured_peak = best->median;
  v.largest_threads = largest->threads;
  v.at_largest = largest->median;
  v.drop = best->median > 0 ? 1 - largest->median / best->median : 0;

  if (!fit.fitted) {
    v.reason = "no fit: " + fit.note;
  } else if (!fit.has_peak()) {
    v.reason = "the fit has no peak (beta = 0): throughput never declines";
  } else if (fit.peak_n_whole >= largest->threads) {
    v.reason = absl::StrFormat("the fitted peak N* = %.1f is not below the largest N measured (%d)", fit.peak_n,
                               largest->threads);
  } else if (v.drop < th::kRetrogradeMinDrop) {
    v.reason = absl::StrFormat(
        "throughput at %d is only %s below the best measured (%s at %d); a retrograde region needs %s",
        largest->threads, pct(std::max(v.drop, 0.0)), si_number(best->median), best->threads, pct(th::kRetrogradeMinDrop));
  } else if (fit.r2 < th::kRetrogradeMinR2) {
    v.reason = absl::StrFormat("the fit is too poor to trust (R^2 = %.2f < %.2f)", fit.r2, th::kRetrogradeMinR2);
  } else {
    v.retrograde = true;
    v.reason = absl::StrFormat("throughput peaks near N* = %.1f and at %d is %s below the best measured", fit.peak_n,
                               largest->threads, pct(v.drop));
  }
  return v;
}

std::vector<SourceLocation> contention_sites(const Analysis& profile, std::string* what, json* lock) {
  if (lock) *lock = nullptr;
  auto located = [](const Finding& f) {
    std::vector<SourceLocation> out;
    for (const auto& l : f.locations)
      if (!l.file.empty() && l.line > 0) out.push_back(l);
    return out;
  };
  const json locks = profile.tables.value("locks", json::array());
  auto lock_row = [&](const Subject& s) -> json {
    for (const auto& l : locks)
      if (l.value("address", "") == hex_address(s.address) && l.value("pid", 0u) == s.pid) return l;
    return nullptr;
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& f : profile.findings) {
      bool is_lock = f.subject.kind == SubjectKind::kLock;
      if (pass == 0 && !is_lock) continue;
      auto sites = located(f);
      if (sites.empty()) continue;
      if (is_lock) {
        json row = lock_row(f.subject);
        double wait_s = row.is_object() ? row.value("total_wait_s", f.cost_thread_s) : f.cost_thread_s;
        *what = absl::StrFormat("%s (%s finding: %.2f s of waiting)", f.subject.name, f.kind, wait_s);
        if (lock) *lock = row;
      } else {
        *what = absl::StrFormat("the %s finding", f.kind);
      }
      return sites;
    }
  }
  if (!locks.empty()) {
    std::vector<SourceLocation> out;
    for (const auto& s : locks[0].value("sites", json::array())) {
      SourceLocation l;
      l.function = s.value("function", "");
      l.file = s.value("file", "");
      l.line = s.value("line", 0);
      l.share = s.value("share", 0.0);
      if (!l.file.empty() && l.line > 0) out.push_back(l);
    }
    if (!out.empty()) {
      std::string name = locks[0].value("name", "");
      *what = absl::StrFormat("%s (the most-waited lock: %.2f s)", name.empty() ? locks[0].value("address", "a lock") : name,
                              locks[0].value("total_wait_s", 0.0));
      if (lock) *lock = locks[0];
      return out;
    }
  }
  *what = "";
  return {};
}

std::optional<Finding> retrograde_finding(const ScaleStudy& study, const UslFit& fit, const RetrogradeVerdict& v,
                                          const std::vector<SourceLocation>& sites, const std::string& sites_what,
                                          int profiled_threads) {
  if (!v.retrograde) return std::nullopt;
  Finding f = new_finding("retrograde-scaling");
  f.subject = {SubjectKind::kProcess, 0, 0, study.command.empty() ? "" : study.command.front()};
  const int cap = fit.peak_n_whole;
  f.title = absl::StrFormat("Throughput peaks at %s and falls %s by %d", threads_word(cap), pct(v.drop),
                            v.largest_threads);

  double wall_at_largest = 0;
  const ScaleStudy::Step* first = nullptr;
  std::vector<std::string> counts;
  for (const auto& s : study.steps) {
    if (s.threads == v.largest_threads) {
      std::vector<double> w = s.wall_s;
      std::sort(w.begin(), w.end());
      wall_at_largest = w.empty() ? 0 : w[w.size() / 2];
    }
    if (!first || s.threads < first->threads) first = &s;
    counts.push_back(std::to_string(s.threads));
  }
  // Cost: the share of the largest run's thread-time that bought nothing over the peak.
  f.cost_share = std::clamp(v.drop, 0.0, 1.0);
  f.cost_thread_s = v.largest_threads * wall_at_largest * f.cost_share;
  f.confidence = fit.r2 >= th::kRetrogradeHighConfidenceR2 &&
                         static_cast<int>(study.steps.size()) >= th::kRetrogradeHighConfidencePoints && !sites.empty()
                     ? "high"
                     : "medium";

  std::string where;
  if (!sites.empty()) {
    const auto& s = sites.front();
    where = absl::StrFormat(" A profile at %s points at %s, taken at %s (%s:%d): that is where the workers "
                            "coordinate.",
                            threads_word(profiled_threads), sites_what, s.function, short_file(s.file), s.line);
  } else {
    where = absl::StrFormat(" A profile at %s found no contended lock with a source line, so the coordination "
                            "is elsewhere (shared cache lines, the allocator, I/O).",
                            threads_word(profiled_threads));
  }
  f.explanation = absl::StrFormat(
      "Measured at %s threads (%d run%s each, median, %s): throughput went from %s at %s to %s at %s, then "
      "fell to %s at %d, %s below the peak. The Universal Scalability Law fits it with alpha = %.3g "
      "(contention: the share of work done one thread at a time) and beta = %.3g (coherency: the cost of each pair "
      "of threads keeping each other's data consistent), R^2 = %.2f. The fitted peak is N* = sqrt((1 - alpha) / "
      "beta) = %.1f, best whole N = %d; beyond it each added thread adds more coordination than work, so "
      "throughput goes down.%s",
      absl::StrJoin(counts, ", "), study.runs, study.runs == 1 ? "" : "s", study.metric, si_number(first->median),
      threads_word(first->threads), si_number(v.measured_peak), threads_word(v.measured_peak_threads), si_number(v.at_largest),
      v.largest_threads, pct(v.drop), fit.alpha, fit.beta, fit.r2, fit.peak_n, cap, where);

  f.remedy.text = absl::StrFormat(
      "Cap the concurrency at the fitted peak: size the thread pool (or the semaphore, connection limit or "
      "parallelism setting) at %d instead of %d; running more workers burns CPU to go slower (%s less throughput "
      "at %d here). Then lower the coefficients themselves, which moves the peak: alpha by shrinking the critical "
      "section or sharding what it guards; beta, the dangerous quadratic term, by removing crosstalk: per-worker "
      "state merged once when read, instead of every operation reading or writing data that all workers share. "
      "Re-run `ccprof scale` after the change: with beta near 0 there is no peak in range.",
      cap, v.largest_threads, pct(v.drop), v.largest_threads);
  f.remedy.before = absl::StrFormat(
      "// One worker per request stream, however many there are: past the\n"
      "// peak every extra worker slows all the others down.\n"
      "const unsigned workers = %d;\n"
      "ThreadPool pool(workers);\n"
      "for (auto& request : requests) pool.submit([&] { handle(request); });\n",
      v.largest_threads);
  f.remedy.after = absl::StrFormat(
      "// USL fit (ccprof scale): alpha=%.3g, beta=%.3g, throughput peaks at N*=%.1f.\n"
      "constexpr unsigned kPeakWorkers = %d;\n"
      "const unsigned workers = std::min(std::thread::hardware_concurrency(), kPeakWorkers);\n"
      "ThreadPool pool(workers);  // queued requests wait for a worker instead of adding one\n"
      "for (auto& request : requests) pool.submit([&] { handle(request); });\n",
      fit.alpha, fit.beta, fit.peak_n, cap);

  for (auto s : sites) {
    s.role = absl::StrFormat("where threads coordinate at %d (profiled)", profiled_threads);
    f.locations.push_back(std::move(s));
  }
  f.evidence = fit_json(fit);
  f.evidence.update(verdict_json(v));
  f.evidence.update({{"threads", json::array()},
                     {"throughput", json::array()},
                     {"fitted", json::array()},
                     {"suggested_concurrency", cap},
                     {"profiled_threads", profiled_threads},
                     {"contention", sites_what}});
  for (const auto& s : study.steps) {
    f.evidence["threads"].push_back(s.threads);
    f.evidence["throughput"].push_back(s.median);
    f.evidence["fitted"].push_back(fit.predict(s.threads));
  }
  return f;
}

json scale_table(const ScaleStudy& study, const UslFit& fit, const RetrogradeVerdict& v) {
  json points = json::array();
  for (const auto& s : study.steps)
    points.push_back({{"threads", s.threads},
                      {"throughput", s.median},
                      {"runs", s.throughputs},
                      {"wall_s", s.wall_s},
                      {"fitted", fit.predict(s.threads)}});
  json retrograde = {{"detected", v.retrograde}, {"reason", v.reason}};
  retrograde.update(verdict_json(v));
  return {{"command", study.command},
          {"metric", study.metric},
          {"runs", study.runs},
          {"points", points},
          {"fit", fit_json(fit)},
          {"retrograde", retrograde},
          {"thresholds",
           {{"min_drop_share", th::kRetrogradeMinDrop},
            {"min_r2", th::kRetrogradeMinR2},
            {"min_thread_counts", th::kScaleMinThreadCounts}}}};
}

}  // namespace ccprof::profiler
