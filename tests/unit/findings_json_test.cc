// findings.json and the terminal summary from a synthetic analysis: the contract of
// docs/findings-schema.md (ranks, cost, remedy, locations with snippets, losses).
#include "report/findings_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "report/terminal.h"

namespace ccprof::report {
namespace {

profiler::Analysis sample_analysis(const std::string& source) {
  profiler::Analysis a;
  profiler::Finding f;
  f.kind = "lock-contention";
  f.scenario = 1;
  f.title = "Threads serialise on g_m";
  f.cost_thread_s = 1.5;
  f.cost_share = 0.25;
  f.confidence = "high";
  f.explanation = "4 threads waited";
  f.remedy.kind = "shard";
  f.remedy.before = "before();";
  f.remedy.after = "after();";
  profiler::SourceLocation l;
  l.function = "count";
  l.file = source;
  l.line = 6;
  l.address = 0x401000;
  f.locations.push_back(l);
  profiler::SourceLocation missing = l;
  missing.file = "/nonexistent/file.cc";
  f.locations.push_back(missing);
  a.findings.push_back(f);
  profiler::Finding g = f;
  g.kind = "hot-atomic";
  g.cost_thread_s = 0.5;
  a.findings.push_back(g);
  a.tables["losses"] = {{"futex.wait_events_dropped", 2}, {"futex.stacks_rate_limited", 900}};
  a.tables["samples"] = {{"futex_waits", 10}};
  a.tables["threads"] = nlohmann::json::array({{{"tid", 1}, {"lifetime_s", 2.0}}, {{"tid", 2}, {"lifetime_s", 4.0}}});
  return a;
}

std::string write_source() {
  std::string path = std::string(::testing::TempDir()) + "/src" + std::to_string(getpid()) + ".cc";
  std::ofstream out(path);
  for (int i = 1; i <= 12; ++i) out << "line " << i << "\n";
  return path;
}

TEST(FindingsJson, DocumentFollowsTheSchema) {
  std::string src = write_source();
  profiler::Recording rec;
  rec.ccprof_version = "t";
  rec.mode = "run";
  rec.command = {"./w", "<script>"};
  rec.start_ns = 0;
  rec.end_ns = 2'000'000'000;
  rec.memory_sampler.mode = "decode";
  nlohmann::json doc = build_findings_document(rec, sample_analysis(src));
  EXPECT_EQ(doc["schema_version"], 2);
  EXPECT_EQ(doc["target"]["command"][1], "<script>");
  EXPECT_DOUBLE_EQ(doc["profile"]["duration_s"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(doc["profile"]["thread_seconds"].get<double>(), 6.0);
  ASSERT_EQ(doc["findings"].size(), 2u);
  EXPECT_EQ(doc["findings"][0]["rank"], 1);
  EXPECT_EQ(doc["findings"][1]["rank"], 2);
  const auto& f = doc["findings"][0];
  EXPECT_EQ(f["remedy"]["example"]["before"], "before();");
  EXPECT_EQ(f["locations"][0]["address"], "0x401000");
  const auto& snip = f["locations"][0]["snippet"];
  ASSERT_TRUE(snip["available"].get<bool>());
  EXPECT_EQ(snip["first_line"], 2);
  EXPECT_EQ(snip["hot_line"], 6);
  EXPECT_EQ(snip["lines"][4], "line 6");
  EXPECT_FALSE(f["locations"][1]["snippet"]["available"].get<bool>());
  EXPECT_NE(f["locations"][1]["snippet"]["reason"].get<std::string>().find("not on disk"), std::string::npos);
  // losses are listed with a description; rate-limited sampling is not a loss
  ASSERT_EQ(doc["losses"].size(), 1u);
  EXPECT_EQ(doc["losses"][0]["what"], "futex.wait_events_dropped");
  EXPECT_FALSE(doc["losses"][0]["detail"].get<std::string>().empty());
  EXPECT_EQ(doc["samples"]["stack_copies_skipped_by_rate_limit"], 900);
  // Decode mode with rate control: the cost share is the sampler's own (the one its
  // budget decisions used), not recomputed here.
  rec.memory_sampler.requested_hz = 499;
  rec.memory_sampler.cost_window_s = 2;
  rec.memory_sampler.bpf_s = 0.5;
  rec.memory_sampler.cost_share = 0.0123;
  doc = build_findings_document(rec, sample_analysis(src));
  EXPECT_DOUBLE_EQ(doc["profile"]["memory_sampler"]["cost"]["share_percent"].get<double>(), 1.23);
  unlink(src.c_str());
}

TEST(Terminal, SummaryHasTheTableInRankOrderAndTheLosses) {
  profiler::Recording rec;
  rec.mode = "run";
  rec.command = {"./w"};
  nlohmann::json doc = build_findings_document(rec, sample_analysis("/nonexistent.cc"), false);
  std::string text = render_terminal_summary(doc, "/tmp/out");
  auto lc = text.find("lock-contention"), ha = text.find("hot-atomic");
  ASSERT_NE(lc, std::string::npos);
  ASSERT_NE(ha, std::string::npos);
  EXPECT_LT(lc, ha);
  EXPECT_NE(text.find("1.50 thr-s (25%)"), std::string::npos) << text;
  EXPECT_NE(text.find("futex.wait_events_dropped=2"), std::string::npos) << text;
  EXPECT_NE(text.find("/tmp/out/findings.json"), std::string::npos);
  EXPECT_NE(text.find("#2 Threads serialise on g_m"), std::string::npos) << text;  // every finding's why
}

TEST(Terminal, NoFindingsSaysSo) {
  profiler::Recording rec;
  profiler::Analysis a;
  std::string text = render_terminal_summary(build_findings_document(rec, a, false), "");
  EXPECT_NE(text.find("No findings"), std::string::npos);
  EXPECT_NE(text.find("losses: none"), std::string::npos);
}

}  // namespace
}  // namespace ccprof::report
