// The catalog (profiler/catalog.json) is the one list of finding kinds and loss
// counters: the rules, the README's table, the page and the loss descriptions must
// agree with it. These tests fail when one of them drifts.
#include "profiler/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "profiler/rule.h"

namespace ccprof::profiler {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Catalog, EveryScenarioHasExactlyOneKind) {
  std::map<int, int> per_scenario;
  std::set<std::string_view> kinds;
  for (const auto& k : finding_kinds()) {
    EXPECT_TRUE(kinds.insert(k.kind).second) << "kind listed twice: " << k.kind;
    EXPECT_FALSE(k.remedy_kind.empty()) << k.kind;
    EXPECT_FALSE(k.label.empty()) << k.kind;
    EXPECT_NE(k.subject, SubjectKind::kNone) << k.kind;
    if (k.scenario > 0) ++per_scenario[k.scenario];
  }
  for (int s = 1; s <= 14; ++s) EXPECT_EQ(per_scenario[s], 1) << "scenario " << s;
}

TEST(Catalog, EveryRuleRaisesCatalogKindsAndEveryKindHasARule) {
  std::set<std::string_view> raised;
  for (const auto& r : profile_rules())
    for (auto k : r->kinds()) {
      EXPECT_NE(kind_info(k), nullptr) << "a rule raises " << k << ", which the catalog does not list";
      EXPECT_TRUE(raised.insert(k).second) << "two rules raise " << k;
    }
  for (const auto& k : finding_kinds()) {
    if (k.kind == "retrograde-scaling") continue;  // `ccprof scale` raises it (profiler/scale_rules.cc)
    EXPECT_TRUE(raised.count(k.kind)) << "no rule raises " << k.kind;
  }
}

TEST(Catalog, NewFindingTakesScenarioAndRemedyFromTheCatalog) {
  Finding f = new_finding("hot-atomic");
  EXPECT_EQ(f.kind, "hot-atomic");
  EXPECT_EQ(f.scenario, 12);
  EXPECT_EQ(f.remedy.kind, "shard-counter");
}

// README.md's "What ccprof finds" table: one row per kind, in catalog order.
TEST(Catalog, ReadmeTableMatchesTheCatalog) {
  const std::string readme = read_file(std::string(CCPROF_SOURCE_DIR) + "/README.md");
  ASSERT_FALSE(readme.empty());
  std::regex row(R"(\n\| `([a-z-]+)` \| ([0-9]+|–) \| `([a-z-]+)` \|)");
  std::vector<std::tuple<std::string, int, std::string>> rows;
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), row); it != std::sregex_iterator(); ++it)
    rows.emplace_back((*it)[1], (*it)[2] == "–" ? 0 : std::stoi((*it)[2]), (*it)[3]);
  ASSERT_EQ(rows.size(), finding_kinds().size()) << "the README table lists another number of kinds";
  for (size_t i = 0; i < rows.size(); ++i) {
    const KindInfo& k = finding_kinds()[i];
    EXPECT_EQ(std::get<0>(rows[i]), k.kind) << "row " << i;
    EXPECT_EQ(std::get<1>(rows[i]), k.scenario) << k.kind;
    EXPECT_EQ(std::get<2>(rows[i]), k.remedy_kind) << k.kind;
  }
}

// The page names scenarios from the document's catalog, not from a copy of its own.
TEST(Catalog, ThePageKeepsNoCopyOfTheCatalog) {
  const std::string page = read_file(std::string(CCPROF_SOURCE_DIR) + "/report/assets/report.html");
  ASSERT_FALSE(page.empty());
  EXPECT_NE(page.find("d.catalog"), std::string::npos);
  for (const auto& k : finding_kinds())
    EXPECT_EQ(page.find(std::string(k.scenario_title)), std::string::npos)
        << "report.html spells the scenario title '" << k.scenario_title << "' itself";
}

// Every loss counter the code emits (`losses["x.y"]`) has a description.
TEST(Catalog, EveryEmittedLossCounterIsDescribed) {
  // losses["name"] or losses[absl::StrCat("prefix.", ...)] in the sources; not the
  // X-macro expansion losses["futex." #name], read from the BPF headers below.
  std::regex emitted(R"(losses\[(?:absl::StrCat\()?"([a-z_]+\.[a-z_.:]*[a-z_:. ]*)\"(?! #))");
  std::set<std::string> names;
  // The BPF loss counter lists: #define FUTEX_COUNTERS(X) X(name) ... -> "futex.name".
  std::regex list(R"(#define ([A-Z]+)_COUNTERS\(X\)((?:[^\n]*\\\n)*[^\n]*))"), item(R"(X\((\w+)\))");
  for (const auto& e : std::filesystem::directory_iterator(std::string(CCPROF_SOURCE_DIR) + "/bpf")) {
    const std::string src = read_file(e.path());
    for (auto it = std::sregex_iterator(src.begin(), src.end(), list); it != std::sregex_iterator(); ++it) {
      std::string prefix = (*it)[1];
      for (char& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const std::string body = (*it)[2];
      for (auto x = std::sregex_iterator(body.begin(), body.end(), item); x != std::sregex_iterator(); ++x)
        names.insert(prefix + "." + (*x)[1].str());
    }
  }
  EXPECT_TRUE(names.count("futex.wait_events_dropped") && names.count("sched.site_map_full"))
      << "the scan of the BPF counter lists found no counters";
  for (const char* dir : {"agent", "profiler", "model", "report"}) {
    for (const auto& e : std::filesystem::directory_iterator(std::string(CCPROF_SOURCE_DIR) + "/" + dir)) {
      if (e.path().extension() != ".cc") continue;
      const std::string src = read_file(e.path());
      for (auto it = std::sregex_iterator(src.begin(), src.end(), emitted); it != std::sregex_iterator(); ++it)
        names.insert((*it)[1]);
    }
  }
  ASSERT_GT(names.size(), 10u) << "the scan found too few counters to be right";
  for (const auto& n : names) EXPECT_FALSE(describe_loss(n).empty()) << "loss counter without a description: " << n;
}

}  // namespace
}  // namespace ccprof::profiler
