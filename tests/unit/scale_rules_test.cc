// The retrograde-scaling rule from synthetic `ccprof scale` measurements.
#include "profiler/scale_rules.h"

#include <gtest/gtest.h>

namespace ccprof::profiler {
namespace {

ScaleStudy study(const std::vector<std::pair<int, double>>& medians) {
  ScaleStudy s;
  s.command = {"./w", "--threads={threads}"};
  s.metric = "throughput=";
  s.runs = 3;
  for (auto [n, x] : medians) s.steps.push_back({n, {x, x, x}, {0.5, 0.5, 0.5}, x});
  return s;
}

// Measured on s06 bad (2 cores): up to 4 threads, then falling.
const ScaleStudy kRetrograde = study({{1, 8.2e6}, {2, 11.2e6}, {4, 11.3e6}, {8, 7.5e6}, {16, 4.6e6}});

TEST(ScaleRules, RetrogradeRaisesTheFindingCappedAtThePeak) {
  auto fit = fit_study(kRetrograde);
  ASSERT_TRUE(fit.ok()) << fit.status();
  auto v = assess_retrograde(kRetrograde, *fit);
  EXPECT_TRUE(v.retrograde) << v.reason;
  EXPECT_EQ(v.measured_peak_threads, 4);
  EXPECT_EQ(v.largest_threads, 16);
  EXPECT_NEAR(v.drop, 1 - 4.6 / 11.3, 1e-9);

  SourceLocation site{"record_latency_shared", "/src/tests/workloads/s06_retrograde_scaling.cc", 55};
  auto f = retrograde_finding(kRetrograde, *fit, v, {site}, "g_stats_mutex", 16);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->kind, "retrograde-scaling");
  EXPECT_EQ(f->scenario, 6);
  EXPECT_EQ(f->remedy.kind, "cap-concurrency");
  ASSERT_EQ(f->locations.size(), 1u);
  EXPECT_EQ(f->locations[0].line, 55);
  EXPECT_GE(fit->peak_n_whole, 2);
  EXPECT_LT(fit->peak_n_whole, 8);
  EXPECT_EQ(f->evidence["suggested_concurrency"], fit->peak_n_whole);
  EXPECT_NE(f->remedy.after.find("kPeakWorkers = " + std::to_string(fit->peak_n_whole)), std::string::npos);
  EXPECT_NE(f->explanation.find("g_stats_mutex"), std::string::npos);
  EXPECT_NEAR(f->cost_thread_s, 16 * 0.5 * v.drop, 1e-9);

  auto table = scale_table(kRetrograde, *fit, v);
  EXPECT_EQ(table["points"].size(), 5u);
  EXPECT_TRUE(table["retrograde"]["detected"]);
  EXPECT_EQ(table["fit"]["peak_n_whole"], fit->peak_n_whole);
}

// Healthy curves: no verdict, for the reason given.
struct NotRetrograde {
  const char* what;
  std::vector<std::pair<int, double>> points;
  const char* reason;  // a part of the verdict's reason ("" = any)
};

TEST(ScaleRules, HealthyCurvesAreNotRetrograde) {
  const NotRetrograde cases[] = {
      // s06 fixed on 2 cores: the same throughput at every N, within noise.
      {"flat", {{1, 12.6e6}, {2, 12.4e6}, {4, 12.5e6}, {8, 11.5e6}, {16, 12.3e6}}, ""},
      {"a small decline is noise", {{1, 100}, {2, 190}, {4, 300}, {8, 320}, {16, 290}}, "below the best measured"},
      {"linear", {{1, 100}, {2, 200}, {4, 400}, {8, 800}}, "no peak"},
      {"too few thread counts", {{1, 100}, {16, 10}}, "no fit"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const ScaleStudy s = study(c.points);
    auto fit = fit_study(s);
    ASSERT_TRUE(fit.ok()) << fit.status();
    auto v = assess_retrograde(s, *fit);
    EXPECT_FALSE(v.retrograde) << v.reason;
    EXPECT_NE(v.reason.find(c.reason), std::string::npos) << v.reason;
    EXPECT_FALSE(retrograde_finding(s, *fit, v, {}, "", 16).has_value());
    EXPECT_FALSE(scale_table(s, *fit, v)["retrograde"]["detected"]);
  }
}

TEST(ScaleRules, AFixedTimeCommandIsRecognised) {
  ScaleStudy fixed;
  for (int n : {1, 2, 4, 8}) fixed.steps.push_back({n, {0.5}, {2.01 + 0.01 * (n % 3), 2.0, 2.02}, 0.5});
  double wall = 0;
  EXPECT_TRUE(runs_for_a_fixed_time(fixed, &wall));
  EXPECT_NEAR(wall, 2.02, 0.02);
  ScaleStudy scaling;  // the same work split over more threads takes less time
  for (int n : {1, 2, 4, 8}) scaling.steps.push_back({n, {n / 4.0}, {4.0 / n}, n / 4.0});
  EXPECT_FALSE(runs_for_a_fixed_time(scaling));
}

TEST(ScaleRules, ContentionSitesPreferTheLockFinding) {
  Analysis a;
  Finding other;
  other.kind = "oversubscription";
  other.locations.push_back({"main", "/src/w.cc", 10});
  Finding lock;
  lock.kind = "lock-contention";
  lock.subject = {SubjectKind::kLock, 7, 0x5000, "g_stats_mutex"};
  lock.cost_thread_s = 2.5;
  lock.locations.push_back({"", "", 0});  // unlocated frames are skipped
  lock.locations.push_back({"record_latency_shared", "/src/s06.cc", 55});
  a.findings = {other, lock};
  a.tables["locks"] = nlohmann::json::array(
      {{{"address", "0x5000"}, {"pid", 7}, {"name", "g_stats_mutex"}, {"total_wait_s", 2.5}}});
  std::string what;
  nlohmann::json lock_json;
  auto sites = contention_sites(a, &what, &lock_json);
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0].function, "record_latency_shared");
  EXPECT_EQ(lock_json["name"], "g_stats_mutex");
  EXPECT_NE(what.find("g_stats_mutex"), std::string::npos) << what;

  Analysis only_table;
  only_table.tables["locks"] = nlohmann::json::array(
      {{{"name", "m"}, {"total_wait_s", 0.01}, {"sites", {{{"function", "f"}, {"file", "/x.cc"}, {"line", 3}}}}}});
  sites = contention_sites(only_table, &what);
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0].line, 3);

  EXPECT_TRUE(contention_sites(Analysis{}, &what).empty());
  EXPECT_EQ(what, "");
}

}  // namespace
}  // namespace ccprof::profiler
