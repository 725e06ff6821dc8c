#include "report/findings_json.h"

#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "profiler/atomic_file.h"

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

}  // namespace

std::string describe_loss(const std::string& name) {
  static const std::map<std::string, std::string> kText = {
      {"futex.wait_events_dropped", "futex waits whose event was lost when the ring buffer was full (totals stay exact)"},
      {"futex.stack_events_dropped", "stack copies lost when the stack ring buffer was full"},
      {"futex.stack_copy_failed", "stack copies that faulted on the first chunk"},
      {"futex.stack_copies_lost", "waits whose stack copy never arrived"},
      {"futex.addr_map_full", "futex addresses beyond the kernel map's capacity: their totals are missing"},
      {"futex.start_map_full", "waits not recorded because the in-flight map was full"},
      {"futex.thread_events_dropped", "thread create/exit events lost (lifetimes come from /proc instead)"},
      {"sched.thread_events_dropped", "thread create/exit events lost when the ring buffer was full"},
      {"sched.syscall_events_dropped", "long blocking syscalls whose event was lost (per-thread totals stay exact)"},
      {"sched.stack_events_dropped", "syscall stack copies lost when the ring buffer was full"},
      {"sched.stack_copy_failed", "syscall stack copies that faulted on the first chunk"},
      {"sched.thread_map_full", "threads beyond the kernel map's capacity: their times are missing"},
      {"sched.state_map_full", "threads whose current syscall could not be tracked (owner states incomplete)"},
      {"sched.site_map_full", "syscall call sites beyond the kernel map's capacity"},
      {"sampler.ringbuf_drops", "memory-access samples lost when the ring buffer was full"},
      {"sampler.kernel_mode_samples", "timer samples that hit the kernel (no user instruction to decode)"},
      {"sampler.pmu_lost_records", "PMU sample records the kernel reported lost"},
      {"sampler.pmu_unparsed_records", "PMU records that could not be parsed"},
      {"lockrate.uprobe_attach_failed", "the lock-rate uprobe could not be attached (no lock acquisition rates)"},
      {"lockrate.map_full", "lock call sites beyond the lock-rate map's capacity"},
      {"unwind.failed", "stack copies that could not be unwound at all"},
      {"unwind.no_user_frame", "unwound stacks that never reached the program's own code"},
      {"unwind.unknown_process", "stacks of a process whose mappings were never read"},
      {"symbolize.unresolved_code_addresses", "instruction addresses outside any known module (JIT or unmapped)"},
  };
  auto it = kText.find(name);
  if (it != kText.end()) return it->second;
  if (absl::StartsWith(name, "sampler.no_address."))
    return "memory samples without a data address: " + name.substr(19);
  if (absl::StartsWith(name, "symbolize.no_debug_info: "))
    return "no debug info: functions from the symbol table only, no file:line (install its -dbgsym or build with -g)";
  return "";
}

json build_findings_document(const profiler::Recording& rec, const profiler::Analysis& a, bool snippets) {
  json doc;
  doc["schema_version"] = 1;
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
                    {"memory_sampler", {{"mode", rec.memory_sampler_mode}, {"reason", rec.memory_sampler_reason}}}};
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
    losses.push_back({{"what", k}, {"count", v}, {"detail", describe_loss(k)}});
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
                        {"evidence", f.evidence}});
  }
  doc["findings"] = findings;
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
  return profiler::write_file_atomically(path, findings_json_text(doc));
}

}  // namespace ccprof::report
