#pragma once
// retrograde-scaling (scenario 6): from `ccprof scale`'s measurements and their USL
// fit, decide whether throughput really falls within the measured range, and say
// where to cap concurrency. The source locations come from one profile of the
// command at the largest thread count (its top contended lock's call sites).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/analysis.h"
#include "profiler/finding.h"
#include "profiler/usl_fit.h"

namespace ccprof::profiler {

// What `ccprof scale` measured (the agent's runner fills it in).
struct ScaleStudy {
  struct Step {
    int threads = 0;
    std::vector<double> throughputs;  // one per run
    std::vector<double> wall_s;       // one per run
    double median = 0;                // of throughputs: the value that is fitted
  };
  std::vector<std::string> command;  // with the {threads} placeholder
  std::string metric;                // how throughput was measured, in words
  int runs = 0;
  std::vector<Step> steps;
};

// The retrograde test on the medians (thresholds.h, "scale").
struct RetrogradeVerdict {
  bool retrograde = false;
  std::string reason;  // why it is or is not, in words
  int measured_peak_threads = 0;
  double measured_peak = 0;
  int largest_threads = 0;
  double at_largest = 0;
  double drop = 0;  // 1 - at_largest / measured_peak
};

// Fits the medians (one point per thread count).
absl::StatusOr<UslFit> fit_study(const ScaleStudy& study);

RetrogradeVerdict assess_retrograde(const ScaleStudy& study, const UslFit& fit);

// Whether every thread count took about the same wall time (kScaleFixedTimeMaxSpread):
// a command that runs for a fixed time, whose 1 / wall time is no measure of throughput.
// `median_wall_s` receives the median wall time of the first step.
bool runs_for_a_fixed_time(const ScaleStudy& study, double* median_wall_s = nullptr);

// The call sites that explain the decline, from a profile at the largest N: the
// top-ranked lock finding's locations, else any finding's located sites, else the
// most-waited lock's sites. `what` says where they came from ("g_stats_mutex, 97% of
// 2.1 s of waiting"). Empty when the profile shows no contention with a source line.
// `lock`, when given, receives that lock's table entry (findings.json's <lock>), or null.
std::vector<SourceLocation> contention_sites(const Analysis& profile, std::string* what,
                                             nlohmann::json* lock = nullptr);

// The finding, when the verdict is retrograde.
std::optional<Finding> retrograde_finding(const ScaleStudy& study, const UslFit& fit, const RetrogradeVerdict& v,
                                          const std::vector<SourceLocation>& sites, const std::string& sites_what,
                                          int profiled_threads);

// findings.json's "scale" table: per-N measurements and fit, the fit and its quality,
// the verdict and the thresholds it used.
nlohmann::json scale_table(const ScaleStudy& study, const UslFit& fit, const RetrogradeVerdict& v);

}  // namespace ccprof::profiler
