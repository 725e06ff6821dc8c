#include "profiler/python_reads.h"

#include <algorithm>
#include <iterator>

#include "profiler/index.h"
#include "profiler/symbolizer.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

CodeLocation python_place(const model::PythonFrame& f) {
  CodeLocation c;
  c.function = f.function;
  c.file = f.file;
  c.line = f.line;
  return c;
}

// The processes whose frames the agent could read (CPython 3.11).
std::set<uint32_t> readable_processes(const model::PythonSection& py) {
  std::set<uint32_t> out;
  for (const auto& p : py.processes)
    if (p.supported) out.insert(p.pid);
  return out;
}

}  // namespace

PythonReads::PythonReads(const model::PythonSection& py) : period_ns_(py.read_period_ns) {
  for (const auto& r : py.reads) by_tid_[r.tid].push_back(&r);
  for (auto& [tid, runs] : by_tid_)
    std::sort(runs.begin(), runs.end(), [](const auto* a, const auto* b) { return a->first_ns < b->first_ns; });
}

const std::vector<int32_t>* PythonReads::nearest(uint32_t tid, uint64_t time_ns) const {
  auto it = by_tid_.find(tid);
  if (it == by_tid_.end()) return nullptr;
  const auto& runs = it->second;
  // The first run that starts after the sample, and the one before it (which may cover it).
  auto after = std::upper_bound(runs.begin(), runs.end(), time_ns,
                                [](uint64_t t, const model::PythonReadRun* r) { return t < r->first_ns; });
  const model::PythonReadRun* best = nullptr;
  uint64_t best_gap = UINT64_MAX;
  if (after != runs.end()) {
    best = *after;
    best_gap = (*after)->first_ns - time_ns;
  }
  if (after != runs.begin()) {
    const model::PythonReadRun* before = *std::prev(after);
    // Inside a run the thread was read every period: a read is at most half of one away.
    const uint64_t gap = time_ns <= before->last_ns ? 0 : time_ns - before->last_ns;
    if (gap <= best_gap) {
      best = before;
      best_gap = gap;
    }
  }
  if (!best || best_gap > period_ns_) return nullptr;
  return &best->frames;
}

nlohmann::json python_memory_table(const Index& index, std::map<std::string, uint64_t>& losses) {
  const model::PythonSection& py = index.rec.python;
  const std::set<uint32_t> pids = readable_processes(py);
  if (pids.empty()) {
    // Another CPython version: the same note as at the GIL waits, native frames only.
    for (const auto& p : py.processes) {
      if (p.supported) continue;
      uint64_t samples = 0;
      for (const auto& s : index.rec.memory_samples) samples += s.pid == p.pid;
      return {{"samples", samples}, {"samples_with_frames", 0}, {"note", p.note},
              {"sites", nlohmann::json::array()}, {"stacks", nlohmann::json::array()}};
    }
    return nullptr;
  }
  const PythonReads reads(py);
  uint64_t samples = 0, with_frames = 0;
  std::map<int32_t, uint64_t> by_line;                  // innermost frame -> samples
  std::map<std::vector<std::string>, uint64_t> stacks;  // root-first names -> samples
  for (const auto& s : index.rec.memory_samples) {
    if (!pids.count(s.pid)) continue;
    ++samples;
    const std::vector<int32_t>* frames = reads.nearest(s.tid, s.time_ns);
    if (!frames || frames->empty()) continue;
    ++with_frames;
    by_line[frames->front()]++;
    std::vector<std::string> names;
    for (auto f = frames->rbegin(); f != frames->rend(); ++f) names.push_back(site_text(python_place(py.frames[*f])));
    // Above the interpreter's native frame: the function the sampled instruction is in.
    names.push_back(site_text(index.code(s.pid, s.regs[model::kRip])));
    stacks[names]++;
  }
  if (samples > with_frames) losses["python.memory_sample_frames_missing"] += samples - with_frames;
  nlohmann::json sites = nlohmann::json::array();
  std::vector<std::pair<uint64_t, int32_t>> lines;
  for (const auto& [f, n] : by_line) lines.push_back({n, f});
  std::sort(lines.rbegin(), lines.rend());
  for (const auto& [n, f] : lines)
    sites.push_back(place_json(python_place(py.frames[f]),
                               {{"samples", n}, {"share", with_frames ? static_cast<double>(n) / with_frames : 0.0}}));
  std::vector<std::pair<uint64_t, const std::vector<std::string>*>> order;
  for (const auto& [names, n] : stacks) order.push_back({n, &names});
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  nlohmann::json rows = nlohmann::json::array();
  uint64_t left_out = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i < thresholds::kReportMaxPythonStacks) rows.push_back({{"frames", *order[i].second}, {"samples", order[i].first}});
    else left_out += order[i].first;
  }
  return {{"samples", samples},
          {"samples_with_frames", with_frames},
          {"read_period_s", py.read_period_ns / 1e9},
          {"sites", std::move(sites)},
          {"stacks", std::move(rows)},
          {"stacks_left_out_samples", left_out}};
}

std::vector<SourceLocation> python_access_sites(const Index& index, const PythonReads& reads, uint32_t pid,
                                                uint64_t line_address, const std::set<uint32_t>& offsets) {
  const model::PythonSection& py = index.rec.python;
  std::map<int32_t, uint64_t> by_line;
  uint64_t total = 0;
  for (const auto& a : index.memory.accesses) {
    if (a.pid != pid || a.data_addr < line_address || a.data_addr >= line_address + kCacheLineBytes ||
        !offsets.count(static_cast<uint32_t>(a.data_addr - line_address)))
      continue;
    ++total;
    const std::vector<int32_t>* frames = reads.nearest(a.tid, a.time_ns);
    if (frames && !frames->empty()) by_line[frames->front()]++;
  }
  std::vector<SourceLocation> out;
  for (const auto& [f, n] : by_line)
    out.push_back(to_source_location(python_place(py.frames[f]),
                                     "the Python line the sampled accesses ran (the nearest read of its thread's frames)",
                                     static_cast<double>(n) / total));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.share > b.share; });
  return out;
}

}  // namespace ccprof::profiler
