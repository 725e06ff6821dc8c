// ccprof diff on synthetic findings documents: matching by subject and the verdicts.
#include <gtest/gtest.h>

#include "profiler/thresholds.h"
#include "report/diff.h"

namespace ccprof::report {
namespace {

using nlohmann::json;

json lock_finding(const std::string& kind, const std::string& lock, double share, const std::string& fn = "work") {
  return {{"kind", kind},
          {"title", kind + " on " + lock},
          {"cost", {{"thread_seconds", share * 10}, {"share", share}}},
          {"locations", {{{"function", fn}, {"file", "/src/app.cc"}, {"line", 42}}}},
          {"evidence", {{"lock", {{"address", "0x55aa"}, {"name", lock}}}}}};
}

json doc(std::vector<json> findings) { return {{"findings", findings}}; }

const json* entry(const json& diff, const std::string& subject) {
  for (const auto& e : diff["entries"])
    if (e["subject"] == subject) return &e;
  return nullptr;
}

TEST(Diff, SubjectsNameTheLockTheLineOrTheCallSiteNeverTheAddress) {
  EXPECT_EQ(finding_subject(lock_finding("lock-contention", "g_mu", 0.3)), "lock g_mu");
  EXPECT_EQ(finding_subject(lock_finding("lock-contention", "", 0.3, "fill")), "lock taken in fill (app.cc)");
  json cl = {{"kind", "false-sharing"}, {"evidence", {{"cache_line", {{"name", "g_counters"}}}}}};
  EXPECT_EQ(finding_subject(cl), "cache line g_counters");
  json site = {{"kind", "thread-churn"}, {"locations", {{{"function", "spawn"}, {"file", "/x/s08.cc"}}}}};
  EXPECT_EQ(finding_subject(site), "call site spawn (s08.cc)");
}

TEST(Diff, AbsentAfterIsFixedAbsentBeforeIsNew) {
  json d = diff_findings(doc({lock_finding("lock-contention", "g_mu", 0.4)}),
                         doc({lock_finding("hot-atomic", "g_n", 0.1)}), "a", "b");
  EXPECT_EQ((*entry(d, "lock g_mu"))["verdict"], "fixed");
  EXPECT_EQ((*entry(d, "lock g_n"))["verdict"], "new");
  EXPECT_TRUE(d["regression"].get<bool>());
  EXPECT_EQ(d["summary"]["fixed"], 1);
  EXPECT_EQ(d["summary"]["new"], 1);
}

TEST(Diff, MatchedFindingsAreJudgedAgainstTheNoiseBand) {
  namespace th = profiler::thresholds;
  const double base = 0.4;
  const double inside = base * (1 + th::kDiffNoiseRelative * 0.5);
  const double worse = base * (1 + th::kDiffNoiseRelative * 2);
  const double better = base * (1 - th::kDiffNoiseRelative * 2);
  auto verdict = [&](double after) {
    json d = diff_findings(doc({lock_finding("lock-contention", "g_mu", base)}),
                           doc({lock_finding("lock-contention", "g_mu", after)}), "a", "b");
    return (*entry(d, "lock g_mu"))["verdict"].get<std::string>();
  };
  EXPECT_EQ(verdict(inside), "unchanged");
  EXPECT_EQ(verdict(worse), "regressed");
  EXPECT_EQ(verdict(better), "improved");
  // A small finding must also move by the absolute band: 1% -> 1.9% is noise.
  json d = diff_findings(doc({lock_finding("lock-contention", "g_mu", 0.01)}),
                         doc({lock_finding("lock-contention", "g_mu", 0.019)}), "a", "b");
  EXPECT_EQ((*entry(d, "lock g_mu"))["verdict"], "unchanged");
  EXPECT_FALSE(d["regression"].get<bool>());
}

TEST(Diff, SameSubjectDifferentKindsAreDifferentFindings) {
  json d = diff_findings(doc({lock_finding("lock-contention", "g_mu", 0.4)}),
                         doc({lock_finding("lock-held-across-io", "g_mu", 0.4)}), "a", "b");
  ASSERT_EQ(d["entries"].size(), 2u);
  EXPECT_EQ(d["entries"][0]["verdict"], "fixed");
  EXPECT_EQ(d["entries"][1]["verdict"], "new");
}

TEST(Diff, TableHasTheColumnsAndTheBand) {
  json d = diff_findings(doc({lock_finding("lock-contention", "g_mu", 0.4)}), doc({}), "a", "b");
  std::string t = render_diff_table(d);
  EXPECT_NE(t.find("kind"), std::string::npos);
  EXPECT_NE(t.find("verdict"), std::string::npos);
  EXPECT_NE(t.find("lock g_mu"), std::string::npos);
  EXPECT_NE(t.find("fixed"), std::string::npos);
  EXPECT_NE(t.find("noise band:"), std::string::npos);
  EXPECT_NE(t.find("1 fixed, 0 improved"), std::string::npos);
}

}  // namespace
}  // namespace ccprof::report
