#include "profiler/lock_rates.h"

#include <algorithm>
#include <map>

#include "profiler/index.h"
#include "profiler/text.h"

namespace ccprof::profiler {

std::vector<LockRate> build_lock_rates(const Index& index) {
  std::vector<LockRate> out;
  const Recording& rec = index.rec;
  if (!rec.has_lockrate) return out;
  const model::LockRateSection& sec = rec.lockrate;
  if (sec.window_s <= 0) return out;
  std::map<std::pair<uint32_t, uint64_t>, LockRate> by_lock;
  for (const auto& e : sec.entries) {
    LockRate& r = by_lock[{e.pid, e.lock}];
    r.pid = e.pid;
    r.lock = e.lock;
    r.window_s = sec.window_s;
    r.calls += e.calls;
    r.tids.insert(e.tid);
    CodeLocation loc = index.code(e.pid, e.caller ? e.caller - 1 : 0);
    auto site = std::find_if(r.sites.begin(), r.sites.end(), [&](const LockRateSite& s) { return same_site(s.loc, loc); });
    if (site == r.sites.end()) {
      r.sites.push_back({loc, 0, 0, {}});
      site = r.sites.end() - 1;
    }
    site->calls += e.calls;
    site->tids.insert(e.tid);
  }
  for (auto& [k, r] : by_lock) {
    r.per_s = r.calls / sec.window_s;
    for (auto& s : r.sites) s.per_s = s.calls / sec.window_s;
    std::sort(r.sites.begin(), r.sites.end(), [](const auto& a, const auto& b) { return a.calls > b.calls; });
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.calls > b.calls; });
  return out;
}

}  // namespace ccprof::profiler
