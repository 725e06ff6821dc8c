// The Prometheus text of `ccprof serve` from findings documents (no root).
#include <gtest/gtest.h>

#include "report/metrics.h"

namespace ccprof::report {
namespace {

using nlohmann::json;

json window(double wait, const std::string& lock = "g_mu", const std::string& type = "mutex") {
  return {{"locks", {{{"name", lock}, {"address", "0x10"}, {"type", type}, {"waits", 10}, {"total_wait_s", wait},
                      {"sites", {{{"function", "work"}, {"file", "/a/b.cc"}, {"line", 7}, {"wait_s", wait * 0.75}}}}}}},
          {"findings", {{{"kind", "lock-contention"}, {"cost", {{"thread_seconds", wait}, {"share", 0.5}}},
                         {"evidence", {{"lock", {{"name", lock}}}}}}}},
          {"losses", {{{"what", "futex.ringbuf_drops"}, {"count", 2}}}},
          {"profile",
           {{"memory_sampler",
             {{"mode", "decode"}, {"frequency_hz", wait > 3 ? 249 : 499}, {"cost", {{"share_percent", 0.5}}}}}}}};
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, CountersAddUpOverWindowsAndGaugesKeepTheLast) {
  MetricsRegistry m;
  m.add_window(window(2.0), {{"lock wait", 1.5}, {"runnable, waiting for a CPU", 0.5}}, 1.0);
  m.add_window(window(4.0), {{"lock wait", 1.0}}, 1.0);
  m.set_target(42);
  std::string t = m.render(0.25);
  EXPECT_TRUE(has_line(t, "ccprof_lock_wait_seconds_total{lock=\"g_mu\",site=\"work (b.cc:7)\"} 4.5")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_lock_wait_seconds_total{lock=\"g_mu\",site=\"unattributed\"} 1.5")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_lock_waits_total{lock=\"g_mu\"} 20")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_offcpu_seconds_total{reason=\"lock wait\"} 2.5")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_runqueue_delay_seconds_total 0.5")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_losses_total{counter=\"futex.ringbuf_drops\"} 4")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_findings{kind=\"lock-contention\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_finding_cost_thread_seconds{kind=\"lock-contention\",subject=\"lock g_mu\"} 4"))
      << t;
  EXPECT_TRUE(has_line(t, "ccprof_windows_total 2")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_memory_sampler_hz 249")) << t;  // the last window's rate
  EXPECT_TRUE(has_line(t, "ccprof_memory_sampler_cpu_share 0.005")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_target_up 1")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_cpu_seconds_total 0.25")) << t;
  EXPECT_NE(t.find("# TYPE ccprof_lock_wait_seconds_total counter"), std::string::npos);
}

TEST(Metrics, EachTargetHasItsOwnSeriesAndItsOwnLastWindow) {
  // serve --pid 11 --comm server: each target's labels first, its gauges kept apart.
  MetricsRegistry m;
  const MetricsRegistry::Labels a = {{"pid", "11"}}, b = {{"comm", "server"}};
  m.add_window(window(2.0), {{"lock wait", 1.5}}, 1.0, a);
  m.add_window(window(3.0), {{"lock wait", 2.0}}, 1.0, b);
  m.add_window(window(1.0), {}, 1.0, b);  // b's last window replaces only b's gauges
  m.set_target(11, a);
  m.set_target(0, b);  // b exited
  std::string t = m.render(0);
  EXPECT_TRUE(has_line(t, "ccprof_lock_waits_total{pid=\"11\",lock=\"g_mu\"} 10")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_lock_waits_total{comm=\"server\",lock=\"g_mu\"} 20")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_offcpu_seconds_total{pid=\"11\",reason=\"lock wait\"} 1.5")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_finding_cost_thread_seconds{pid=\"11\",kind=\"lock-contention\",subject=\"lock g_mu\"} 2"))
      << t;
  EXPECT_TRUE(has_line(t, "ccprof_finding_cost_thread_seconds{comm=\"server\",kind=\"lock-contention\",subject=\"lock g_mu\"} 1"))
      << t;
  EXPECT_TRUE(has_line(t, "ccprof_findings{pid=\"11\",kind=\"lock-contention\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_target_up{pid=\"11\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_target_up{comm=\"server\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "ccprof_windows_total 3")) << t;
  EXPECT_EQ(t.find("ccprof_lock_waits_total{lock="), std::string::npos) << "a series without its target";
}

TEST(Metrics, CondvarsAreNotLockWait) {
  MetricsRegistry m;
  m.add_window(window(2.0, "g_cv", "condvar"), {}, 1.0);
  EXPECT_EQ(m.render(0).find("lock=\"g_cv\""), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_labels({{"lock", "a\"b\\c\nd"}}), "lock=\"a\\\"b\\\\c\\nd\"");
}

TEST(Metrics, SeriesAreBounded) {
  MetricsRegistry m;
  for (size_t i = 0; i < MetricsRegistry::kMaxSeries + 50; ++i) m.add_window(window(1.0, "lock" + std::to_string(i)), {}, 1.0);
  std::string t = m.render(0);
  size_t n = 0;
  for (size_t p = t.find("\nccprof_lock_waits_total{"); p != std::string::npos;
       p = t.find("\nccprof_lock_waits_total{", p + 1))
    ++n;
  EXPECT_EQ(n, MetricsRegistry::kMaxSeries + 1);  // the bound plus the "other" series
  EXPECT_TRUE(has_line(t, "ccprof_lock_waits_total{lock=\"other\"} 500")) << t.substr(0, 300);
}

}  // namespace
}  // namespace ccprof::report
