#include "profiler/queue_rules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "profiler/catalog.h"
#include "profiler/lock_rules.h"
#include "profiler/rule.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {
namespace {

namespace th = thresholds::queues;

bool is_sync_function(const std::string& fn) {
  static const char* kNames[] = {"pthread_mutex_", "lll_lock", "lll_unlock", "pthread_cond_", "__condvar",
                                 "futex", "std::mutex", "std::condition_variable", "__gthread_mutex",
                                 "lll_mutex"};
  for (const char* n : kNames)
    if (absl::StrContains(fn, n)) return true;
  return false;
}

// A condition variable is two futex words in glibc (__g_signals[0..1]); group them by
// the variable they belong to.
std::string condvar_key(const LockInfo& l) {
  if (l.data.symbol_start) return absl::StrFormat("%d:%x", l.pid, l.data.symbol_start);
  return absl::StrFormat("%d:%x", l.pid, l.uaddr & ~uint64_t{63});
}

struct Condvar {
  std::string name;
  uint32_t pid = 0;
  uint64_t address = 0;  // the variable's (its symbol's start, or its first futex word's line)
  uint64_t waits = 0;
  double wait_s = 0;
  std::map<uint32_t, double> wait_by_tid;
  std::set<uint32_t> waiters;
  std::set<uint64_t> futexes;
  std::vector<CodeLocation> sites;
};

std::vector<Condvar> group_condvars(const std::vector<LockInfo>& locks) {
  std::map<std::string, Condvar> by_key;
  for (const auto& l : locks) {
    if (l.type != "condvar") continue;
    Condvar& c = by_key[condvar_key(l)];
    c.pid = l.pid;
    if (!c.address) c.address = l.data.symbol_start ? l.data.symbol_start : (l.uaddr & ~uint64_t{63});
    if (c.name.empty()) {
      c.name = l.data.name;
      auto plus = c.name.find('+');
      if (plus != std::string::npos) c.name = c.name.substr(0, plus);
      if (c.name.empty()) c.name = absl::StrFormat("the condition variable at 0x%x", l.uaddr);
    }
    c.waits += l.waits;
    c.wait_s += l.total_wait_s;
    c.futexes.insert(l.uaddr);
    for (const auto& [tid, w] : l.waiters) c.wait_by_tid[tid] += w.wait_s;
    for (const auto& s : l.sites) c.sites.push_back(s.loc);
  }
  std::vector<Condvar> out;
  for (auto& [k, c] : by_key) {
    // The threads that really wait on it: glibc's signalers also wait briefly on the
    // condvar's internal words (__g_refs) while groups switch; they are not waiters.
    for (const auto& [tid, w] : c.wait_by_tid)
      if (w >= th::kCondvarWaiterMinShare * c.wait_s) c.waiters.insert(tid);
    out.push_back(std::move(c));
  }
  return out;
}

Finding handoff_finding(const Index& ctx, const Condvar& producer, const Condvar& consumer, double duration) {
  Finding f = new_finding("handoff-stall");
  f.subject = lock_subject(producer.pid, producer.address, producer.name);
  size_t workers = consumer.waiters.size();
  double pairs_per_s = producer.waits / duration;
  f.title = absl::StrFormat("Every item is a rendezvous: %zu producer%s and %zu workers take turns blocking",
                            producer.waiters.size(), producer.waiters.size() == 1 ? "" : "s", workers);
  f.cost_thread_s = producer.wait_s + consumer.wait_s;
  f.cost_share = ctx.cost_share(f.cost_thread_s);
  f.confidence = producer.waits >= th::kHandoffHighConfidenceWaits ? "high" : "medium";
  double ratio = consumer.waits ? static_cast<double>(producer.waits) / consumer.waits : 0;
  f.explanation = absl::StrFormat(
      "The producer side waited on %s %d times (%.0f per second, %.3f s in all) and the %zu workers waited on "
      "%s %d times (%.3f s): %.2f producer waits per worker wait-up, so each handed-over item costs a wake/wait "
      "pair and neither side can run ahead of the other. With no room in the channel, the producer stops until "
      "a worker takes the item and idle workers stop until the producer has the next one.",
      producer.name, producer.waits, pairs_per_s, producer.wait_s, workers, consumer.name, consumer.waits,
      consumer.wait_s, ratio);
  f.remedy.text = absl::StrFormat(
      "Give the channel a buffer so the producer can run ahead while workers are busy: a bounded queue with "
      "capacity between %zu and %zu (workers to 2 x workers) absorbs the jitter between the sides, keeps the "
      "back-pressure (the producer still blocks when it is full) and turns a wake/wait pair per item into one "
      "per burst. Notify only on the empty->non-empty and full->not-full transitions.",
      workers, 2 * workers);
  f.remedy.before =
      "// capacity 0: the producer waits for every item to be taken\n"
      "void send(Item it) {\n"
      "  std::unique_lock lk(mu);\n"
      "  slot = it; full = true;\n"
      "  ready.notify_one();\n"
      "  taken.wait(lk, [] { return !full; });\n"
      "}";
  f.remedy.after = absl::StrFormat(
      "// a bounded buffer of %zu items: the producer blocks only when it is full\n"
      "BoundedQueue<Item> q(/*capacity=*/%zu);\n"
      "void send(Item it) { q.push(std::move(it)); }  // waits only if full\n"
      "bool receive(Item* it) { return q.pop(it); }   // waits only if empty",
      2 * workers, 2 * workers);
  for (const auto& l : producer.sites) {
    f.locations.push_back(to_source_location(l, "the producer waits for a worker to take the item", producer.wait_s / f.cost_thread_s));
    break;
  }
  for (const auto& l : consumer.sites) {
    f.locations.push_back(to_source_location(l, "workers wait for the producer's next item", consumer.wait_s / f.cost_thread_s));
    break;
  }
  f.evidence = {{"producer_condvar", producer.name},
                {"producer_waits", producer.waits},
                {"producer_wait_s", producer.wait_s},
                {"producer_threads", producer.waiters.size()},
                {"consumer_condvar", consumer.name},
                {"consumer_waits", consumer.waits},
                {"consumer_wait_s", consumer.wait_s},
                {"workers", workers},
                {"wait_pairs_per_s", pairs_per_s},
                {"producer_waits_per_consumer_wait", ratio},
                {"suggested_capacity_min", workers},
                {"suggested_capacity_max", 2 * workers}};
  return f;
}

Finding per_item_finding(const Index& ctx, const LockRate& r, const LockInfo* info,
                         const std::vector<const Condvar*>& condvars) {
  Finding f = new_finding("per-item-synchronization");
  // A lock taken per item need not be contended: then it has no row in the lock table,
  // and its evidence is a row of the same shape with no waits.
  LockInfo uncontended;
  if (!info) {
    uncontended.pid = r.pid;
    uncontended.uaddr = r.lock;
    uncontended.type = "mutex";
    uncontended.data = ctx.data(r.pid, r.lock);
    info = &uncontended;
  }
  std::string name = lock_display_name(*info);
  f.subject = lock_subject(*info);
  // The share is of the threads' CPU samples: a thread that sleeps between bursts of
  // items spends that share of its CPU time in lock code, not of its life. Their CPU
  // time from the sched collector; their lifetimes where it did not run.
  double threads_s = 0, on_cpu_s = 0;
  for (uint32_t tid : r.tids) {
    threads_s += ctx.thread_lifetime_s(tid);
    for (const auto& t : ctx.rec.sched.threads)
      if (t.tid == tid && t.pid == r.pid) on_cpu_s += t.on_cpu_ns / 1e9;
  }
  const double busy_s = ctx.rec.has_sched && on_cpu_s > 0 ? on_cpu_s : threads_s;
  double share = sync_sample_share(ctx, r.pid, r.tids);
  double cv_wait = 0;
  for (const auto* c : condvars) cv_wait += c->wait_s;
  f.title = absl::StrFormat("%s is taken at least %.0f times per second, once per item", name, r.per_s);
  f.cost_thread_s = share >= 0 ? share * busy_s : cv_wait + info->total_wait_s;
  f.cost_share = ctx.cost_share(f.cost_thread_s);
  f.confidence = share >= 0 ? "high" : "medium";
  std::vector<std::string> sites;
  for (const auto& s : r.sites) sites.push_back(absl::StrFormat("%s %.0f/s", site_text(s.loc), s.per_s));
  std::vector<std::string> cvs;
  for (const auto* c : condvars) cvs.push_back(c->name);
  std::string share_text =
      share >= 0 ? absl::StrFormat(" %.0f%% of those threads' CPU samples were in lock and condition-variable code "
                                   "rather than in the work itself.",
                                   share * 100)
                 : " (No CPU samples to estimate the synchronisation share: the memory sampler was off.)";
  f.explanation = absl::StrFormat(
      "%zu threads took %s at least %.0f times per second (counted in %.0f ms of uprobe windows, which slow every "
      "call, so the true rate is higher) from %zu call sites: %s. The same functions wait on %s, so this is a "
      "queue between threads, and it is locked once per item: every item pays a lock round trip on a cache line "
      "that bounces between the producer's and the consumer's cores, plus a notify.%s",
      r.tids.size(), name, r.per_s, r.window_s * 1e3, r.sites.size(), absl::StrJoin(sites, ", "),
      absl::StrJoin(cvs, " and "), share_text);
  f.remedy.text = absl::StrFormat(
      "Move items in batches: the producer fills a local vector and pushes it under one acquisition; the consumer "
      "swaps the whole queue out under one acquisition and works on it unlocked. With batches of ~256 items the "
      "%.0f+ acquisitions per second become a few hundred, and notifications drop by the same factor.",
      r.per_s);
  f.remedy.before =
      "void push_item(Item it) {\n"
      "  std::lock_guard lk(mu);  // one lock round trip per item\n"
      "  q.push_back(it);\n"
      "  cv.notify_one();\n"
      "}";
  f.remedy.after =
      "void push_batch(std::vector<Item>& batch) {  // e.g. 256 items\n"
      "  { std::lock_guard lk(mu);\n"
      "    q.insert(q.end(), batch.begin(), batch.end()); }\n"
      "  cv.notify_one();\n"
      "  batch.clear();\n"
      "}\n"
      "// consumer: { std::lock_guard lk(mu); local.swap(q); }  then process `local` unlocked";
  for (const auto& s : r.sites) {
    f.locations.push_back(to_source_location(s.loc, absl::StrFormat("takes the lock %.0f times/s", s.per_s),
                                      r.calls ? static_cast<double>(s.calls) / r.calls : 0));
    if (f.locations.size() >= 4) break;
  }
  nlohmann::json site_rows = nlohmann::json::array();
  for (const auto& s : r.sites)
    site_rows.push_back(place_json(s.loc, {{"acquisitions_per_s", s.per_s}, {"threads", s.tids.size()}}));
  f.evidence = {{"lock", lock_to_json(*info, ctx.threads)},
                {"acquisitions_per_s", r.per_s},
                {"acquisitions_counted", r.calls},
                {"uprobe_window_s", r.window_s},
                {"threads", r.tids.size()},
                {"sites", site_rows},
                {"condvars", cvs},
                {"sync_share", share >= 0 ? nlohmann::json(share) : nlohmann::json(nullptr)}};
  // The time on lines the threads pass between them outside the lock code (the queue's
  // ends and items): each item moves them once more, and batching removes that too.
  if (double moved = shared_line_sample_share(ctx, r.pid, r.tids, in_sync_code); moved >= 0)
    f.evidence["shared_line_share"] = moved;
  add_hold_evidence(f, ctx, r.pid, r.lock);
  return f;
}

}  // namespace

bool in_sync_code(const CodeLocation& loc) {
  bool in_sync = is_sync_function(loc.function);
  for (const auto& n : loc.inline_chain) in_sync = in_sync || is_sync_function(n);
  return in_sync;
}

double sync_sample_share(const Index& ctx, uint32_t pid, const std::set<uint32_t>& tids) {
  Symbolizer* sym = ctx.symbolizer(pid);
  if (!sym) return -1;
  uint64_t total = 0, sync = 0;
  for (const auto& s : ctx.rec.memory_samples) {
    if (s.pid != pid || !tids.count(s.tid)) continue;
    ++total;
    if (in_sync_code(sym->code(s.regs[kRip]))) ++sync;
  }
  return total ? static_cast<double>(sync) / total : -1;
}

double shared_line_sample_share(const Index& ctx, uint32_t pid, const std::set<uint32_t>& tids,
                                const std::function<bool(const CodeLocation&)>& excluded) {
  Symbolizer* sym = ctx.symbolizer(pid);
  if (!sym) return -1;
  uint64_t total = 0;
  for (const auto& s : ctx.rec.memory_samples)
    if (s.pid == pid && tids.count(s.tid)) ++total;
  if (!total) return -1;
  std::map<uint64_t, bool> moves;  // line address -> two of `tids` on it, one writing
  auto line_moves = [&](uint64_t line_addr) {
    auto [it, fresh] = moves.try_emplace(line_addr, false);
    if (!fresh) return it->second;
    auto l = ctx.memory.lines.lines().find({pid, line_addr});
    if (l == ctx.memory.lines.lines().end()) return false;
    int threads = 0;
    uint64_t stores = 0;
    for (const auto& [tid, c] : l->second.threads)
      if (tids.count(tid)) ++threads, stores += c.stores();
    return it->second = threads >= 2 && stores > 0;
  };
  uint64_t shared = 0;
  for (const auto& a : ctx.memory.accesses) {
    if (a.pid != pid || !tids.count(a.tid)) continue;
    if (!line_moves(a.data_addr & ~(kCacheLineBytes - 1))) continue;
    if (excluded && excluded(sym->code(a.insn_addr))) continue;
    ++shared;
  }
  return static_cast<double>(shared) / total;
}

bool handoff_buffer_shown(uint64_t kept, uint64_t keep_every, uint64_t calls) {
  if (!calls) return false;
  // The count's upper bound, two standard errors (~2 sqrt(kept)) above it, 3 for none
  // (the rule of three): s14 bad once read 0.77 waits per item from 27 kept waits (~21 ms
  // of windows, waits thinned by the agent's stride), where it reads 0.92-1.0 from more.
  const double k = static_cast<double>(kept);
  const double high = (kept ? k + 2 * std::sqrt(k) : 3.0) * static_cast<double>(std::max<uint64_t>(1, keep_every));
  return high / static_cast<double>(calls) < thresholds::queues::kHandoffMinWaitsPerItem;
}

namespace {

// handoff-stall (scenario 14).
std::vector<Finding> handoff_stall(const Index& ctx) {
  const std::vector<LockRate>& rates = ctx.lock_rates;
  std::vector<Finding> out;
  double duration = ctx.rec.duration_s();
  std::vector<Condvar> condvars = group_condvars(ctx.locks);

  // Where the lockrate windows ran, the producer's items are its lock calls in them,
  // and its condvar waits that began in them say how many of those items it blocked on.
  static const std::vector<std::pair<uint64_t, uint64_t>> kNone;
  const auto& windows = ctx.rec.has_lockrate ? ctx.rec.lockrate.intervals_ns : kNone;
  auto in_window = [&](uint64_t t) {
    for (const auto& [a, b] : windows)
      if (t >= a && t < b) return true;
    return false;
  };
  // The producer's waits per item, and how many of its waits the agent kept in the
  // windows (its sample thins them on busy locks: the ratio is an estimate from them, and
  // a short window holds few). A scan of every kept wait: made once per producer
  // condvar, and only for pairs that passed the cheap tests.
  struct PerItem {
    double per_item = -1;
    bool buffer_shown = false;
    uint64_t kept = 0;
  };
  std::map<size_t, PerItem> per_item_of;
  auto producer_waits_per_item = [&](size_t i) -> PerItem {
    auto it = per_item_of.find(i);
    if (it != per_item_of.end()) return it->second;
    const Condvar& p = condvars[i];
    PerItem r;
    if (!windows.empty() && !rates.empty()) {
      uint64_t calls = 0;
      for (const auto& lr : rates)
        for (const auto& s : lr.sites)
          if (std::any_of(s.tids.begin(), s.tids.end(), [&](uint32_t t) { return p.waiters.count(t); }))
            calls += s.calls;
      for (const auto& w : ctx.rec.futex_waits)
        if (p.futexes.count(w.uaddr) && p.waiters.count(w.tid) && in_window(w.start_ns)) ++r.kept;
      // The agent keeps 1 in keep_every wait events on long, busy profiles.
      const uint64_t keep_every = std::max<uint64_t>(1, ctx.rec.futex.keep_every);
      if (calls) r.per_item = static_cast<double>(r.kept * keep_every) / calls;
      r.buffer_shown = handoff_buffer_shown(r.kept, keep_every, calls);
    }
    per_item_of[i] = r;
    return r;
  };

  // handoff-stall: two condition variables of one process waited on by disjoint sets
  // of threads, the producer side blocking about once per consumer wake-up, fast.
  for (size_t i = 0; i < condvars.size() && duration > 0; ++i)
    for (size_t j = 0; j < condvars.size(); ++j) {
      const Condvar& p = condvars[i];
      const Condvar& c = condvars[j];
      if (i == j || p.pid != c.pid || p.waits == 0 || c.waits == 0) continue;
      if (p.waiters.size() > c.waiters.size()) continue;  // the producer side is the smaller one
      if (p.waiters.size() == c.waiters.size() && i > j) continue;
      bool disjoint = std::none_of(p.waiters.begin(), p.waiters.end(), [&](uint32_t t) { return c.waiters.count(t); });
      if (!disjoint) continue;
      double ratio = static_cast<double>(p.waits) / c.waits;
      if (p.waits / duration < th::kHandoffMinPairsPerS) continue;
      if (ratio < th::kHandoffMinPairRatio || ratio > th::kHandoffMaxPairRatio) {
        spdlog::debug("handoff-stall: producer side {} thread(s) {:.0f} waits/s, consumer side {} thread(s): "
                      "wait ratio {:.2f}, outside [{}, {}]",
                      p.waiters.size(), p.waits / duration, c.waiters.size(), ratio, th::kHandoffMinPairRatio,
                      th::kHandoffMaxPairRatio);
        continue;
      }
      // The decisive test where it can be made: a rendezvous blocks the producer on
      // (nearly) every item; a buffer lets it hand most items over without waiting.
      const PerItem pi = producer_waits_per_item(i);
      spdlog::debug("handoff-stall: producer side {} thread(s) {:.0f} waits/s, consumer side {} thread(s), "
                    "wait ratio {:.2f}, producer waits per item {:.2f} ({} waits kept in the lock-rate windows)",
                    p.waiters.size(), p.waits / duration, c.waiters.size(), ratio, pi.per_item, pi.kept);
      if (pi.buffer_shown) continue;
      Finding f = handoff_finding(ctx, p, c, duration);
      f.evidence["producer_waits_per_item"] = pi.per_item >= 0 ? nlohmann::json(pi.per_item) : nlohmann::json(nullptr);
      if (pi.per_item >= 0)
        f.explanation += absl::StrFormat(" While its lock calls were counted, the producer blocked on %.0f%% of the "
                                         "items it sent.",
                                         std::min(pi.per_item, 1.0) * 100);
      out.push_back(std::move(f));
    }
  return out;
}

// per-item-synchronization (scenario 7): a condition-variable queue's mutex taken per item.
std::vector<Finding> per_item_synchronization(const Index& ctx) {
  std::vector<Finding> out;
  std::vector<Condvar> condvars = group_condvars(ctx.locks);
  for (const auto& r : ctx.lock_rates) {
    spdlog::debug("per-item-synchronization: lock {:#x} taken {:.0f}/s in the lock-rate windows", r.lock, r.per_s);
    if (r.per_s < th::kPerItemMinAcquisitionsPerS) continue;
    if (static_cast<int>(r.sites.size()) < th::kPerItemMinSites || r.tids.size() < 2) continue;
    std::set<std::string> lock_functions;
    for (const auto& s : r.sites) lock_functions.insert(s.loc.function);
    std::vector<const Condvar*> related;
    for (const auto& c : condvars) {
      if (c.pid != r.pid) continue;
      for (const auto& s : c.sites)
        if (lock_functions.count(s.function)) {
          related.push_back(&c);
          break;
        }
    }
    if (related.empty()) continue;  // a lock without a queue: lock-contention's business
    // The uprobe count saturates near the trap rate (~60,000/s here), so it cannot tell
    // one acquisition per item from one per batch at high throughput; the CPU samples
    // can: per-item locking spends a large share of the threads' time in lock code.
    double share = sync_sample_share(ctx, r.pid, r.tids);
    spdlog::debug("per-item-synchronization: lock {:#x} taken {:.0f}/s from {} sites by {} threads, {} queue(s); "
                  "their samples in lock code {:.2f}",
                  r.lock, r.per_s, r.sites.size(), r.tids.size(), related.size(), share);
    if (share >= 0 && share < th::kPerItemMinSyncShare) continue;
    Finding f = per_item_finding(ctx, r, ctx.lock(r.pid, r.lock), related);
    spdlog::debug("per-item-synchronization: lock {:#x}: cost share {:.3f}", r.lock, f.cost_share);
    // Locked per item but at a CPU cost too small to matter (a queue fed in short bursts
    // whose threads sleep in between): no finding. Without samples the rate decides.
    if (share >= 0 && f.cost_share < th::kPerItemMinCostShare) continue;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Rule>> queue_rule_family() {
  return rule_family(make_rule({"handoff-stall"}, &handoff_stall),
                     make_rule({"per-item-synchronization"}, &per_item_synchronization));
}

}  // namespace ccprof::profiler
