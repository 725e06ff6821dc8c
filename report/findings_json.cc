#include "report/findings_json.h"

#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "model/atomic_file.h"
#include "profiler/catalog.h"
#include "profiler/predicted_gain.h"

namespace ccprof::report {
namespace {

using nlohmann::json;

constexpr int kSnippetContext = 4;  // lines before and after the hot line

json source_snippet(const std::string& file, int line, std::map<std::string, std::vector<std::string>>& cache) {
  if (file.empty() || line <= 0) return {{"available", false}, {"reason", "no source line in the debug info"}};
  auto it = cache.find(file);
  if (it == cache.end()) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    if (in) {
      std::string l;
      while (std::getline(in, l)) lines.push_back(l);
    }
    it = cache.emplace(file, std::move(lines)).first;
  }
  const auto& lines = it->second;
  if (lines.empty()) return {{"available", false}, {"reason", "source file not on disk: " + file}};
  if (line > static_cast<int>(lines.size()))
    return {{"available", false}, {"reason", "source file on disk is shorter than the debug info says (changed?)"}};
  int first = std::max(1, line - kSnippetContext);
  int last = std::min(static_cast<int>(lines.size()), line + kSnippetContext);
  json out = json::array();
  for (int i = first; i <= last; ++i) out.push_back(lines[i - 1]);
  return {{"available", true}, {"first_line", first}, {"hot_line", line}, {"lines", out}};
}

json location_json(const profiler::SourceLocation& l) {
  return {{"function", l.function}, {"file", l.file},     {"line", l.line},  {"address", absl::StrFormat("0x%x", l.address)},
          {"module", l.module},     {"role", l.role},     {"share", l.share}};
}

// The sampler's mode and its effective rate; in decode mode also the rate asked for,
// its CPU budget, the rate changes and what sampling cost over the window.
json memory_sampler_json(const model::MemorySamplerSection& ms) {
  json j = {{"mode", ms.mode}, {"reason", ms.reason}, {"frequency_hz", ms.frequency_hz}, {"events", ms.events}};
  if (ms.mode != "decode" || !ms.requested_hz) return j;
  j["requested_hz"] = ms.requested_hz;
  j["budget_percent"] = ms.budget * 100;
  json changes = json::array();
  for (const auto& c : ms.rate_changes)
    changes.push_back({{"at_s", c.at_s}, {"hz", c.hz}, {"share_percent", c.share * 100}, {"why", c.why}});
  j["rate_changes"] = std::move(changes);
  j["cost"] = {{"measured_over_s", ms.cost_window_s},
               {"firings", ms.fires},
               {"bpf_s", ms.bpf_s},
               {"agent_s", ms.agent_s},
               {"interrupt_s_estimated", ms.interrupt_s},
               {"interrupt_ns_per_firing_estimated", ms.interrupt_ns},
               {"share_percent", ms.cost_share * 100}};
  return j;
}

}  // namespace

json catalog_json() {
  json kinds = json::array();
  for (const auto& k : profiler::finding_kinds())
    kinds.push_back({{"kind", k.kind},
                     {"scenario", k.scenario},
                     {"scenario_title", k.scenario_title},
                     {"remedy_kind", k.remedy_kind},
                     {"label", k.label},
                     {"remedy", k.remedy},
                     {"subject", profiler::subject_kind_name(k.subject)},
                     {"general", k.general}});
  json losses = json::array();
  for (const auto& l : profiler::loss_counters()) losses.push_back({{"name", l.name}, {"detail", l.detail}});
  return {{"kinds", kinds}, {"losses", losses}};
}

json build_findings_document(const model::Recording& rec, const profiler::Analysis& a, bool snippets) {
  json doc;
  doc["schema_version"] = kSchemaVersion;
  doc["tool"] = {{"name", "ccprof"}, {"version", rec.ccprof_version}};
  uint32_t pid = rec.processes.empty() ? 0 : rec.processes.front().pid;
  std::string comm = rec.processes.empty() ? "" : rec.processes.front().comm;
  doc["target"] = {{"mode", rec.mode}, {"command", rec.command}, {"pid", pid}, {"comm", comm},
                   {"exit_code", rec.exit_code}};
  double thread_s = 0;
  for (const auto& t : a.tables.value("threads", json::array())) thread_s += t.value("lifetime_s", 0.0);
  doc["profile"] = {{"duration_s", rec.duration_s()},
                    {"threads", rec.threads.size()},
                    {"thread_seconds", thread_s},
                    {"cpus", rec.online_cpus},
                    {"hostname", rec.hostname},
                    {"kernel", rec.kernel},
                    {"processes", rec.processes.size()},
                    {"memory_sampler", memory_sampler_json(rec.memory_sampler)},
                    {"cost_mode", {{"name", rec.profile_mode.name}, {"gives_up", rec.profile_mode.gives_up}}}};
  doc["samples"] = a.tables.value("samples", json::object());
  json losses = json::array();
  const json loss_table = a.tables.value("losses", json::object());
  uint64_t rate_limited = 0;
  for (const auto& [k, v] : loss_table.items()) {
    // Stack copies skipped by a rate limit are sampling by design (the totals they
    // would add to are exact): shown with the samples, not as a loss.
    if (absl::EndsWith(k, ".stacks_rate_limited")) {
      rate_limited += v.get<uint64_t>();
      continue;
    }
    losses.push_back({{"what", k}, {"count", v}, {"detail", profiler::describe_loss(k)}});
  }
  doc["samples"]["stack_copies_skipped_by_rate_limit"] = rate_limited;
  doc["losses"] = losses;

  std::map<std::string, std::vector<std::string>> cache;
  json findings = json::array();
  int rank = 1;
  for (const auto& f : a.findings) {
    json locs = json::array();
    for (const auto& l : f.locations) {
      json lj = location_json(l);
      if (snippets) lj["snippet"] = source_snippet(l.file, l.line, cache);
      locs.push_back(std::move(lj));
    }
    findings.push_back({{"rank", rank++},
                        {"kind", f.kind},
                        {"scenario", f.scenario},
                        {"title", f.title},
                        {"cost", {{"thread_seconds", f.cost_thread_s}, {"share", f.cost_share}}},
                        {"confidence", f.confidence},
                        {"explanation", f.explanation},
                        {"remedy",
                         {{"kind", f.remedy.kind},
                          {"text", f.remedy.text},
                          {"example", {{"language", f.remedy.language}, {"before", f.remedy.before}, {"after", f.remedy.after}}}}},
                        {"locations", locs},
                        {"subject",
                         {{"kind", profiler::subject_kind_name(f.subject.kind)},
                          {"pid", f.subject.pid},
                          {"address", f.subject.address ? json(absl::StrFormat("0x%x", f.subject.address)) : json(nullptr)},
                          {"name", f.subject.name}}},
                        {"evidence", f.evidence},
                        {"predicted_gain", profiler::predicted_gain_json(f.predicted_gain)},
                        {"gain_rank", f.gain_rank}});
  }
  doc["findings"] = findings;
  doc["catalog"] = catalog_json();
  for (const char* table : {"locks", "threads", "stacks", "timeline", "timeline_sampling"})
    doc[table] = a.tables.value(table, json::array());
  for (const auto& [k, v] : a.tables.items())
    if (!doc.contains(k) && k != "samples" && k != "losses") doc[k] = v;
  return doc;
}

std::string findings_json_text(const json& doc) {
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

absl::Status write_findings_json(const json& doc, const std::string& path) {
  return model::write_file_atomically(path, findings_json_text(doc));
}

}  // namespace ccprof::report
