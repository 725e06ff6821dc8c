#include "profiler/lock_rates.h"

#include <algorithm>
#include <map>

namespace ccprof::profiler {

std::vector<LockRate> build_lock_rates(AnalysisContext& ctx) {
  std::vector<LockRate> out;
  auto it = ctx.rec.sections.find("lockrate");
  if (it == ctx.rec.sections.end()) return out;
  const nlohmann::json& sec = it->second;
  double window_s = sec.value("window_s", 0.0);
  if (window_s <= 0 || !sec.contains("entries")) return out;
  std::map<std::pair<uint32_t, uint64_t>, LockRate> by_lock;
  try {
    for (const auto& e : sec["entries"]) {
      uint32_t pid = e.at(0).get<uint32_t>(), tid = e.at(1).get<uint32_t>();
      uint64_t lock = e.at(2).get<uint64_t>(), caller = e.at(3).get<uint64_t>(), n = e.at(4).get<uint64_t>();
      LockRate& r = by_lock[{pid, lock}];
      r.pid = pid;
      r.lock = lock;
      r.window_s = window_s;
      r.calls += n;
      r.tids.insert(tid);
      CodeLocation loc;
      if (Symbolizer* sym = ctx.symbolizer(pid)) loc = sym->code(caller ? caller - 1 : 0);
      auto site = std::find_if(r.sites.begin(), r.sites.end(), [&](const LockRateSite& s) {
        return s.loc.function == loc.function && s.loc.file == loc.file && s.loc.line == loc.line;
      });
      if (site == r.sites.end()) {
        r.sites.push_back({loc, 0, 0, {}});
        site = r.sites.end() - 1;
      }
      site->calls += n;
      site->tids.insert(tid);
    }
  } catch (const std::exception&) {
    ctx.losses["lockrate.section_malformed"]++;
    return out;
  }
  for (auto& [k, r] : by_lock) {
    r.per_s = r.calls / window_s;
    for (auto& s : r.sites) s.per_s = s.calls / window_s;
    std::sort(r.sites.begin(), r.sites.end(), [](const auto& a, const auto& b) { return a.calls > b.calls; });
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.calls > b.calls; });
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> lock_rate_windows(const Recording& rec) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  auto it = rec.sections.find("lockrate");
  if (it == rec.sections.end() || !it->second.contains("intervals_ns")) return out;
  try {
    out = it->second["intervals_ns"].get<std::vector<std::pair<uint64_t, uint64_t>>>();
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

}  // namespace ccprof::profiler
