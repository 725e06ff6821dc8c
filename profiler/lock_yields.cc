#include "profiler/lock_yields.h"

#include <algorithm>

#include "profiler/index.h"
#include "profiler/lock_libraries.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {
namespace {

void charge(LockInfo& l, const ResolvedYield& y, const std::function<double(uint32_t)>& lifetime_s) {
  auto [it, new_waiter] = l.waiters.try_emplace(y.tid);
  if (new_waiter) l.waiter_thread_s += lifetime_s(y.tid);
  it->second.wait_s += y.yield_s;
  l.yields += y.yields;
  l.yield_s += y.yield_s;
  l.total_wait_s += y.yield_s;
}

}  // namespace

YieldCharge charge_yields(std::vector<LockInfo>& locks, const std::vector<ResolvedYield>& yields,
                          const std::function<double(uint32_t)>& lifetime_s) {
  YieldCharge out;
  for (const ResolvedYield& y : yields) {
    if (!y.lock_library) continue;  // the program's own yield: not a lock's
    LockInfo* target = nullptr;
    if (y.lock)
      for (LockInfo& l : locks)
        if (l.uaddr == y.lock && (l.pid == y.pid || l.processes.count(y.pid))) target = &l;
    if (!target) {
      out.unattributed += y.yields;
      out.unattributed_s += y.yield_s;
      continue;
    }
    charge(*target, y, lifetime_s);
    out.charged += y.yields;
    out.charged_s += y.yield_s;
  }
  for (auto& l : locks)
    for (auto& s : l.sites) s.est_wait_s = s.share * l.total_wait_s;
  std::stable_sort(locks.begin(), locks.end(), [](const LockInfo& a, const LockInfo& b) {
    return a.total_wait_s != b.total_wait_s ? a.total_wait_s > b.total_wait_s : a.uaddr < b.uaddr;
  });
  return out;
}

void charge_lock_yields(Index& idx) {
  if (idx.rec.lock_yields.empty()) return;
  std::vector<ResolvedYield> yields;
  for (const auto& y : idx.rec.lock_yields) {
    ResolvedYield r{.pid = y.pid, .tid = y.tid, .yields = y.yields, .yield_s = y.yield_ns / 1e9};
    if (y.lock) r.lock = idx.lock_key(y.pid, y.lock).second;
    if (Symbolizer* sym = idx.symbolizer(y.pid); sym && y.caller) {
      r.lock_library = is_lock_library_code(sym->code(y.caller - 1));  // a return address
    }
    yields.push_back(r);
  }
  const YieldCharge c = charge_yields(idx.locks, yields, [&idx](uint32_t tid) { return idx.thread_lifetime_s(tid); });
  if (c.unattributed) idx.losses["locks.yields_unattributed"] += c.unattributed;
  spdlog::debug("lock yields: {} sched_yield() calls ({:.3f} s) charged to locks, {} ({:.3f} s) unattributed",
                c.charged, c.charged_s, c.unattributed, c.unattributed_s);
}

}  // namespace ccprof::profiler
