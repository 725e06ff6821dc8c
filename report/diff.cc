#include "report/diff.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "absl/strings/str_format.h"
#include "profiler/thresholds.h"

namespace ccprof::report {
namespace {

using nlohmann::json;
namespace th = profiler::thresholds;

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "count_words (s01_lock_contention.cc)": function and file, not the line, so that a
// fix that moves code within the file still matches.
std::string call_site(const json& f) {
  const json& locs = f.value("locations", json::array());
  if (locs.empty() || !locs[0].is_object()) return "?";
  std::string fn = locs[0].value("function", "");
  std::string file = base_name(locs[0].value("file", ""));
  if (fn.empty()) fn = "?";
  return file.empty() ? fn : fn + " (" + file + ")";
}

double share_of(const json& f) {
  const json& c = f.value("cost", json::object());
  return c.is_object() ? c.value("share", 0.0) : 0.0;
}
double seconds_of(const json& f) {
  const json& c = f.value("cost", json::object());
  return c.is_object() ? c.value("thread_seconds", 0.0) : 0.0;
}

json side(const json& f) {
  return {{"title", f.value("title", "")},
          {"cost_s", seconds_of(f)},
          {"share", share_of(f)},
          {"rank", f.value("rank", 0)},
          {"location", f.value("locations", json::array()).empty() ? json(nullptr) : f["locations"][0]}};
}

// The verdict of a finding present on both sides, from its cost share.
std::string compare(double before, double after) {
  double delta = after - before;
  double band = std::max(th::kDiffNoiseRelative * before, th::kDiffNoiseAbsoluteShare);
  if (delta > band) return "regressed";
  if (-delta > band) return "improved";
  return "unchanged";
}

json source_info(const json& doc, const std::string& source) {
  const json& target = doc.value("target", json::object());
  const json& profile = doc.value("profile", json::object());
  return {{"source", source},
          {"command", target.is_object() ? target.value("command", json::array()) : json::array()},
          {"duration_s", profile.is_object() ? profile.value("duration_s", 0.0) : 0.0},
          {"findings", doc.value("findings", json::array()).size()}};
}

// The findings array, keeping only objects (a hand-edited document may hold anything).
json findings_of(const json& doc) {
  json out = json::array();
  if (!doc.is_object() || !doc.contains("findings") || !doc["findings"].is_array()) return out;
  for (const auto& f : doc["findings"])
    if (f.is_object()) out.push_back(f);
  return out;
}

}  // namespace

std::string finding_subject(const json& f) {
  // Schema 2: the finding's typed subject, by kind and name (addresses move between runs).
  if (const json& sub = f.value("subject", json::object()); sub.is_object() && !sub.value("name", "").empty()) {
    const std::string kind = sub.value("kind", "");
    if (kind == "lock" || kind == "cache-line" || kind == "word")
      return (kind == "cache-line" ? "cache line" : kind) + " " + sub.value("name", "");
  }
  // Schema 1 documents: the evidence names it.
  const json& ev = f.value("evidence", json::object());
  if (ev.is_object() && ev.contains("lock") && ev["lock"].is_object()) {
    std::string name = ev["lock"].value("name", "");
    return name.empty() ? "lock taken in " + call_site(f) : "lock " + name;
  }
  if (ev.is_object() && ev.contains("cache_line") && ev["cache_line"].is_object()) {
    std::string name = ev["cache_line"].value("name", "");
    return name.empty() ? "cache line touched in " + call_site(f) : "cache line " + name;
  }
  return "call site " + call_site(f);
}

json diff_findings(const json& before, const json& after, const std::string& before_source,
                   const std::string& after_source) {
  // (kind, subject) -> findings in rank order; a pair is matched first to first.
  using Key = std::pair<std::string, std::string>;
  std::map<Key, std::vector<const json*>> b, a;
  std::vector<Key> order;  // before's rank order, then after's new ones
  // Copies that outlive the loops: the maps keep pointers into them.
  const json before_findings = findings_of(before), after_findings = findings_of(after);
  for (const auto& f : before_findings) {
    Key k{f.value("kind", ""), finding_subject(f)};
    if (b[k].empty()) order.push_back(k);
    b[k].push_back(&f);
  }
  for (const auto& f : after_findings) {
    Key k{f.value("kind", ""), finding_subject(f)};
    if (b[k].empty() && a[k].empty()) order.push_back(k);
    a[k].push_back(&f);
  }
  json entries = json::array();
  std::map<std::string, int> summary = {{"fixed", 0}, {"improved", 0}, {"unchanged", 0}, {"regressed", 0}, {"new", 0}};
  for (const Key& k : order) {
    const auto& bs = b[k];
    const auto& as = a[k];
    for (size_t i = 0; i < std::max(bs.size(), as.size()); ++i) {
      const json* fb = i < bs.size() ? bs[i] : nullptr;
      const json* fa = i < as.size() ? as[i] : nullptr;
      json e = {{"kind", k.first}, {"subject", k.second}};
      e["before"] = fb ? side(*fb) : json(nullptr);
      e["after"] = fa ? side(*fa) : json(nullptr);
      double sb = fb ? share_of(*fb) : 0, sa = fa ? share_of(*fa) : 0;
      e["change"] = {{"share_points", (sa - sb) * 100},
                     {"cost_s", (fa ? seconds_of(*fa) : 0) - (fb ? seconds_of(*fb) : 0)},
                     {"ratio", sb > 0 ? json(sa / sb) : json(nullptr)}};
      std::string verdict = !fa ? "fixed" : !fb ? "new" : compare(sb, sa);
      e["verdict"] = verdict;
      summary[verdict]++;
      entries.push_back(std::move(e));
    }
  }
  bool regression = summary["new"] > 0 || summary["regressed"] > 0;
  return {{"schema_version", 1},
          {"before", source_info(before, before_source)},
          {"after", source_info(after, after_source)},
          {"metric", "cost.share: the share of the profile's thread time the finding costs (comparable across "
                     "profiles of different lengths)"},
          {"noise_band",
           {{"relative", th::kDiffNoiseRelative},
            {"absolute_share", th::kDiffNoiseAbsoluteShare},
            {"text", absl::StrFormat("a matched finding is unchanged unless its cost share moves by more than %.0f%% "
                                     "of itself and by more than %.0f points of the profile",
                                     th::kDiffNoiseRelative * 100, th::kDiffNoiseAbsoluteShare * 100)}}},
          {"entries", std::move(entries)},
          {"summary", summary},
          {"regression", regression}};
}

std::string render_diff_table(const json& diff) {
  auto cost = [](const json& s) {
    if (s.is_null()) return std::string("-");
    return absl::StrFormat("%.3fs %4.1f%%", s.value("cost_s", 0.0), s.value("share", 0.0) * 100);
  };
  std::vector<std::array<std::string, 6>> rows = {{"kind", "subject", "before", "after", "change", "verdict"}};
  for (const auto& e : diff["entries"]) {
    double pts = e["change"].value("share_points", 0.0);
    rows.push_back({e.value("kind", ""), e.value("subject", ""), cost(e["before"]), cost(e["after"]),
                    absl::StrFormat("%+.1f pts", pts), e.value("verdict", "")});
  }
  std::array<size_t, 6> w{};
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], std::min<size_t>(r[i].size(), 60));
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i].size() > 60 ? r[i].substr(0, 57) + "..." : r[i];
      line += cell + std::string(w[i] - cell.size(), ' ') + (i + 1 < r.size() ? "  " : "");
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  if (diff["entries"].empty()) out += "(no findings on either side)\n";
  const json& s = diff["summary"];
  out += absl::StrFormat("%d fixed, %d improved, %d unchanged, %d regressed, %d new\n", s.value("fixed", 0),
                         s.value("improved", 0), s.value("unchanged", 0), s.value("regressed", 0), s.value("new", 0));
  out += "noise band: " + diff["noise_band"].value("text", "") + "\n";
  return out;
}

}  // namespace ccprof::report
