// lock-order-inversion: two mutexes taken in opposite orders by two threads, from the
// lock order the lockrate collector records in its uprobe windows (Recording::lockhold).
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_format.h"
#include "profiler/catalog.h"
#include "profiler/lock_rules.h"
#include "profiler/rule.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

namespace th = thresholds;
using model::LockOrderPair;

std::string mutex_name(const Index& ctx, uint32_t pid, uint64_t addr) {
  if (const LockInfo* l = ctx.lock(pid, addr)) return lock_display_name(*l);
  DataLocation d = ctx.data(pid, addr);
  return d.name.empty() ? hex_address(addr) : d.name;
}

CodeLocation site_of(const Index& ctx, uint32_t pid, uint64_t caller) { return ctx.code(pid, caller ? caller - 1 : 0); }

// One order of the pair as the threads showed it: the biggest observation of it.
struct Order {
  const LockOrderPair* top = nullptr;
  uint64_t count = 0;
  std::set<uint32_t> tids;
};

std::string order_text(const Index& ctx, const Order& o) {
  const LockOrderPair& p = *o.top;
  return absl::StrFormat("thread %d (%s) took %s at %s while holding %s (taken at %s), %s",
                         p.tid, ctx.comm(p.tid), mutex_name(ctx, p.pid, p.second),
                         site_text(site_of(ctx, p.pid, p.second_caller)), mutex_name(ctx, p.pid, p.first),
                         site_text(site_of(ctx, p.pid, p.first_caller)), count_of(o.count, "time", "times"));
}

nlohmann::json order_json(const Index& ctx, const Order& o) {
  const LockOrderPair& p = *o.top;
  auto loc = [&](uint64_t caller) {
    CodeLocation c = site_of(ctx, p.pid, caller);
    return nlohmann::json{{"function", c.function}, {"file", c.file}, {"line", c.line}};
  };
  return {{"first", hex_address(p.first)},   {"first_name", mutex_name(ctx, p.pid, p.first)},
          {"first_site", loc(p.first_caller)}, {"second", hex_address(p.second)},
          {"second_name", mutex_name(ctx, p.pid, p.second)}, {"second_site", loc(p.second_caller)},
          {"tid", p.tid},                    {"comm", ctx.comm(p.tid)},
          {"count", o.count},                {"threads", o.tids.size()}};
}

Finding inversion_finding(const Index& ctx, const Order& ab, const Order& ba) {
  const LockOrderPair& p = *ab.top;
  const std::string a = mutex_name(ctx, p.pid, p.first), b = mutex_name(ctx, p.pid, p.second);
  Finding f = new_finding("lock-order-inversion");
  f.subject = lock_subject(p.pid, std::min(p.first, p.second), a + " and " + b);
  f.title = absl::StrFormat("%s and %s are taken in opposite orders: a potential deadlock", a, b);
  // No time is lost until the deadlock happens; what the two locks cost in waits now.
  double wait_s = 0;
  for (uint64_t addr : {p.first, p.second})
    if (const LockInfo* l = ctx.lock(p.pid, addr)) wait_s += l->total_wait_s;
  f.cost_thread_s = wait_s;
  f.cost_share = ctx.cost_share(wait_s);
  f.confidence = std::min(ab.count, ba.count) >= th::kLockOrderHighConfidence ? "high" : "medium";
  f.explanation = absl::StrFormat(
      "In %s of uprobe windows, %s; and %s. Each thread holds one mutex while it waits for the other: the "
      "day the two run those sections at the same time, each holds the lock the other waits for and both "
      "wait forever (no deadlock happened in this profile: something — timing, a turn, a third lock — kept "
      "them apart so far).",
      duration_text(ctx.rec.lockhold.window_s), order_text(ctx, ab), order_text(ctx, ba));
  f.remedy.text = absl::StrFormat(
      "Give the two mutexes one global order and take them in that order everywhere (for instance %s before "
      "%s, written down next to their declarations), or take both at once with std::scoped_lock, which "
      "acquires several mutexes without deadlock whatever the order of its arguments.",
      a, b);
  f.remedy.before =
      "void transfer() { std::lock_guard a(g_accounts_mutex); std::lock_guard b(g_audit_mutex); ... }\n"
      "void audit()    { std::lock_guard b(g_audit_mutex); std::lock_guard a(g_accounts_mutex); ... }";
  f.remedy.after =
      "// Order: g_accounts_mutex, then g_audit_mutex.\n"
      "void transfer() { std::scoped_lock both(g_accounts_mutex, g_audit_mutex); ... }\n"
      "void audit()    { std::scoped_lock both(g_accounts_mutex, g_audit_mutex); ... }";
  for (const Order* o : {&ba, &ab}) {
    const LockOrderPair& q = *o->top;
    f.locations.push_back(to_source_location(
        site_of(ctx, q.pid, q.second_caller),
        absl::StrFormat("takes %s while holding %s", mutex_name(ctx, q.pid, q.second), mutex_name(ctx, q.pid, q.first)),
        0.5));
  }
  for (const Order* o : {&ba, &ab}) {
    const LockOrderPair& q = *o->top;
    f.locations.push_back(to_source_location(site_of(ctx, q.pid, q.first_caller),
                                             absl::StrFormat("takes %s first", mutex_name(ctx, q.pid, q.first))));
  }
  f.evidence["orders"] = nlohmann::json::array({order_json(ctx, ab), order_json(ctx, ba)});
  f.evidence["window_s"] = ctx.rec.lockhold.window_s;
  return f;
}

std::vector<Finding> lock_order_inversions(const Index& ctx) {
  std::vector<Finding> out;
  if (!ctx.rec.has_lockhold) return out;
  // (pid, first, second) -> per thread: the blocking acquisitions in that order.
  std::map<std::tuple<uint32_t, uint64_t, uint64_t>, std::map<uint32_t, Order>> orders;
  for (const auto& p : ctx.rec.lockhold.order) {
    if (p.trylock || p.first == p.second) continue;
    Order& o = orders[{p.pid, p.first, p.second}][p.tid];
    o.count += p.count;
    o.tids.insert(p.tid);
    if (!o.top || p.count > o.top->count) o.top = &p;
  }
  for (const auto& [key, by_tid] : orders) {
    auto [pid, first, second] = key;
    if (first > second) continue;  // each pair once, from its lower address
    auto rev = orders.find({pid, second, first});
    if (rev == orders.end()) continue;
    // Two different threads, one in each order; the most frequent such pair.
    const Order *best_ab = nullptr, *best_ba = nullptr;
    for (const auto& [t1, ab] : by_tid)
      for (const auto& [t2, ba] : rev->second) {
        if (t1 == t2 || ab.count < th::kLockOrderMinPerOrder || ba.count < th::kLockOrderMinPerOrder) continue;
        if (!best_ab || std::min(ab.count, ba.count) > std::min(best_ab->count, best_ba->count)) {
          best_ab = &ab;
          best_ba = &ba;
        }
      }
    if (best_ab) out.push_back(inversion_finding(ctx, *best_ab, *best_ba));
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Rule>> lock_order_rule_family() {
  return rule_family(make_rule({"lock-order-inversion"}, &lock_order_inversions));
}

}  // namespace ccprof::profiler
