#pragma once
// Prometheus text exposition for `ccprof serve`: counters accumulated over the
// profiling windows (lock wait by lock and call site, off-CPU time by reason,
// cache-line samples, losses) and gauges of the last window (findings and their cost).
// Label cardinality is bounded: see kMaxSeries and docs/metrics.md.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ccprof::report {

class MetricsRegistry {
 public:
  // Series per counter family; later new label sets fold into lock="other" and the like.
  static constexpr size_t kMaxSeries = 200;
  // Per window: the locks by total wait, and the call sites of each, that get labels.
  static constexpr size_t kTopLocks = 20;
  static constexpr size_t kTopSites = 5;

  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Adds one window of one target: its findings document and its off-CPU seconds by
  // reason. `target` (serve's --pid/--comm as given, e.g. {{"comm", "server"}}) comes
  // first in the labels of every series of that target; empty: the only target.
  void add_window(const nlohmann::json& findings, const std::map<std::string, double>& offcpu_s_by_reason,
                  double window_s, const Labels& target = {});
  // Whether `target` is being profiled (pid 0: not now) when the text is rendered.
  void set_target(uint32_t pid, const Labels& target = {}) { target_up_[target] = pid != 0; }
  // Prometheus text format 0.0.4. `own_cpu_s`: ccprof's own CPU time so far.
  std::string render(double own_cpu_s) const;
  uint64_t windows() const { return windows_; }

 private:
  struct Family {
    std::string help, type;
    std::map<Labels, double> series;
  };
  void add(const std::string& name, Labels labels, double v, const Labels& overflow);
  void set(const std::string& name, Labels labels, double v);
  Family& family(const std::string& name);

  std::map<std::string, Family> families_;
  uint64_t windows_ = 0;
  std::map<Labels, bool> target_up_;
  double last_window_s_ = 0;
};

// "lock=\"g_mu\",site=\"f (a.cc:3)\"" with Prometheus escaping of \, " and newlines.
std::string prometheus_labels(const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace ccprof::report
