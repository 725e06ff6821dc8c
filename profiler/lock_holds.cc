#include "profiler/lock_holds.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "absl/strings/str_format.h"
#include "profiler/holder_stacks.h"
#include "profiler/index.h"
#include "profiler/text.h"

namespace ccprof::profiler {

uint64_t hold_bucket_lower_ns(uint32_t bucket, uint32_t sub_bits) {
  const uint32_t msb = bucket >> sub_bits, sub = bucket & ((1u << sub_bits) - 1);
  if (msb >= 63) return UINT64_MAX;
  // The kernel's bucket: the top bit of the value and the next sub_bits bits.
  const uint64_t top = (1ull << sub_bits) | sub;
  return msb >= sub_bits ? top << (msb - sub_bits) : top >> (sub_bits - msb);
}

double hold_percentile(const std::vector<std::pair<uint32_t, uint64_t>>& hist, uint32_t sub_bits, double q,
                       uint64_t max_ns) {
  uint64_t n = 0;
  for (const auto& [b, c] : hist) n += c;
  if (n == 0) return 0;
  std::vector<std::pair<uint32_t, uint64_t>> sorted(hist);
  std::sort(sorted.begin(), sorted.end());
  // The smallest bucket with at least q of the holds at or below it.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(n)));
  uint64_t seen = 0;
  for (const auto& [b, c] : sorted) {
    seen += c;
    if (static_cast<double>(seen) >= rank) {
      const double lo = static_cast<double>(hold_bucket_lower_ns(b, sub_bits));
      const double hi = static_cast<double>(hold_bucket_lower_ns(b + 1, sub_bits));
      double mid = (lo + hi) / 2;
      if (max_ns && mid > static_cast<double>(max_ns)) mid = static_cast<double>(max_ns);
      return mid / 1e9;
    }
  }
  return static_cast<double>(max_ns) / 1e9;
}

namespace {

struct Acc {
  HoldDistribution dist;
  std::vector<std::pair<uint32_t, uint64_t>> hist;
  uint64_t max_ns = 0;
  double held_s = 0;
  uint64_t clipped = 0;
  void add(const model::LockHoldSite& s) {
    dist.holds += s.holds;
    dist.total_s += s.hold_ns / 1e9;
    max_ns = std::max(max_ns, s.max_ns);
    held_s += (s.hold_ns + s.clipped_ns) / 1e9;
    clipped += s.clipped;
    hist.insert(hist.end(), s.hist.begin(), s.hist.end());
  }
  HoldDistribution finish(uint32_t sub_bits) const {
    HoldDistribution d = dist;
    d.max_s = max_ns / 1e9;
    d.p50_s = hold_percentile(hist, sub_bits, 0.5, max_ns);
    d.p99_s = hold_percentile(hist, sub_bits, 0.99, max_ns);
    return d;
  }
};

}  // namespace

std::vector<LockHold> build_lock_holds(const Index& index) {
  std::vector<LockHold> out;
  const Recording& rec = index.rec;
  if (!rec.has_lockhold || rec.lockhold.window_s <= 0) return out;
  const double window_s = rec.lockhold.window_s;
  const uint32_t sub_bits = rec.lockhold.hist_sub_bits;
  if (sub_bits > 8) return out;  // not a histogram this code wrote
  struct PerLock {
    Acc all;
    std::vector<std::pair<CodeLocation, Acc>> sites;
  };
  std::map<std::pair<uint32_t, uint64_t>, PerLock> by_lock;
  for (const auto& s : rec.lockhold.sites) {
    PerLock& l = by_lock[{s.pid, s.lock}];
    l.all.add(s);
    if (!s.caller) continue;  // acquired before a window: no call site
    CodeLocation loc = index.code(s.pid, s.caller - 1);
    auto it = std::find_if(l.sites.begin(), l.sites.end(), [&](const auto& p) { return same_site(p.first, loc); });
    if (it == l.sites.end()) {
      l.sites.push_back({loc, Acc{}});
      it = l.sites.end() - 1;
    }
    it->second.add(s);
  }
  for (const auto& [key, l] : by_lock) {
    LockHold h;
    h.pid = key.first;
    h.lock = key.second;
    h.window_s = window_s;
    h.dist = l.all.finish(sub_bits);
    h.held_s = l.all.held_s;
    h.share_held = std::min(1.0, h.held_s / window_s);
    h.clipped = l.all.clipped;
    double located_s = 0;  // hold time whose acquiring call was seen (not cut by a window's start)
    for (const auto& [loc, acc] : l.sites) located_s += acc.held_s;
    for (const auto& [loc, acc] : l.sites) {
      LockHoldSiteInfo si;
      si.loc = loc;
      si.dist = acc.finish(sub_bits);
      si.held_s = acc.held_s;
      si.share_of_time = std::min(1.0, acc.held_s / window_s);
      si.share_of_hold = located_s > 0 ? acc.held_s / located_s : 0;
      h.sites.push_back(std::move(si));
    }
    std::sort(h.sites.begin(), h.sites.end(), [](const auto& a, const auto& b) { return a.held_s > b.held_s; });
    out.push_back(std::move(h));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.held_s > b.held_s; });
  return out;
}

namespace {

std::string dist_text(const HoldDistribution& d) {
  if (d.holds == 0) return "no complete hold measured";
  return absl::StrFormat("p50 %s, p99 %s, %s", duration_text(d.p50_s), duration_text(d.p99_s),
                         count_of(d.holds, "hold", "holds"));
}

nlohmann::json dist_json(const HoldDistribution& d) {
  return {{"holds", d.holds}, {"total_s", d.total_s}, {"max_s", d.max_s}, {"p50_s", d.p50_s}, {"p99_s", d.p99_s}};
}

}  // namespace

std::string hold_text(const LockHold& h) {
  std::string s = absl::StrFormat("it was held %s of the measured time", pct(h.share_held));
  if (!h.sites.empty()) {
    const LockHoldSiteInfo& top = h.sites.front();
    s += absl::StrFormat("; %s of that at %s (%s)", pct(top.share_of_hold), site_text(top.loc), dist_text(top.dist));
  } else {
    s += absl::StrFormat(" (%s)", dist_text(h.dist));
  }
  return s;
}

nlohmann::json hold_to_json(const LockHold& h) {
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& s : h.sites) {
    nlohmann::json j = dist_json(s.dist);
    j["function"] = s.loc.function;
    j["file"] = s.loc.file;
    j["line"] = s.loc.line;
    j["held_s"] = s.held_s;
    j["share_of_time"] = s.share_of_time;
    j["share_of_hold"] = s.share_of_hold;
    sites.push_back(std::move(j));
  }
  nlohmann::json j = dist_json(h.dist);
  j["window_s"] = h.window_s;
  j["held_s"] = h.held_s;
  j["share_held"] = h.share_held;
  j["clipped_holds"] = h.clipped;
  j["sites"] = std::move(sites);
  return j;
}

void add_hold_evidence(Finding& f, const Index& index, uint32_t pid, uint64_t lock) {
  const LockHold* h = index.lock_hold(pid, lock);
  if (!h) return;
  std::string text = hold_text(*h);
  text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  f.explanation += absl::StrFormat(
      " %s (critical sections timed in %s of uprobe windows; the probes trap on every lock and unlock call, "
      "which lengthens each hold by about a microsecond and slows the code between holds more).",
      text, duration_text(h->window_s));
  f.evidence["hold"] = hold_to_json(*h);
  add_holder_evidence(f, index, pid, lock, h->sites.empty() ? nullptr : &h->sites.front().loc);
}

}  // namespace ccprof::profiler
