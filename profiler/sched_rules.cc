#include "profiler/sched_rules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "profiler/catalog.h"
#include "profiler/lock_rules.h"
#include "profiler/rule.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

namespace th = thresholds;
using nlohmann::json;

// ---- helpers ------------------------------------------------------------------------

std::string mib(double bytes) { return absl::StrFormat("%.0f MiB", bytes / (1024.0 * 1024.0)); }

uint64_t blocking_count(const SchedThread& t) {
  return t.class_count(SyscallClass::kIo) + t.class_count(SyscallClass::kSleep) + t.class_count(SyscallClass::kPoll);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Weighted call sites, turned into the finding's locations (by weight, with shares).
class SiteTally {
 public:
  void add(const CodeLocation& loc, double weight) {
    total_ += weight;
    for (auto& s : sites_)
      if (same_site(s.loc, loc)) {
        s.weight += weight;
        ++s.count;
        return;
      }
    sites_.push_back({loc, weight, 1});
  }
  bool empty() const { return sites_.empty(); }
  void append_to(std::vector<SourceLocation>& out, const std::string& role, size_t max_sites) {
    std::sort(sites_.begin(), sites_.end(), [](const Site& a, const Site& b) { return a.weight > b.weight; });
    for (size_t i = 0; i < sites_.size() && i < max_sites; ++i)
      out.push_back(to_source_location(sites_[i].loc, role, total_ > 0 ? sites_[i].weight / total_ : 0));
  }
  const CodeLocation* top() {
    if (sites_.empty()) return nullptr;
    return &std::max_element(sites_.begin(), sites_.end(),
                             [](const Site& a, const Site& b) { return a.weight < b.weight; })
                ->loc;
  }
  json to_json() const {
    json out = json::array();
    for (const auto& s : sites_)
      out.push_back(place_json(s.loc, {{"samples", s.count}, {"share", total_ > 0 ? s.weight / total_ : 0}}));
    return out;
  }

 private:
  struct Site {
    CodeLocation loc;
    double weight = 0;
    uint64_t count = 0;
  };
  std::vector<Site> sites_;
  double total_ = 0;
};

using th::kMaxStacksPerFinding;

// What every sched rule starts from; the rules run only when the collector ran and the
// profile has a duration.
struct SchedView {
  const SchedSection& sec;
  const Recording& rec;
  double duration_s;
  double cores;
};

using SchedRule = std::vector<Finding> (*)(const Index&, const SchedView&);

class SiteTally;
void add_spawn_sites(const Index& ctx, const SchedSection& sec, uint32_t pid, SiteTally& sites);

template <SchedRule rule>
std::vector<Finding> with_sched(const Index& ctx) {
  const SchedSection* sec = ctx.sched();
  if (!sec || ctx.rec.duration_s() <= 0) return {};
  return rule(ctx, SchedView{*sec, ctx.rec, ctx.rec.duration_s(), static_cast<double>(std::max<uint32_t>(1, ctx.rec.online_cpus))});
}

// The user frames of the stack-sampled syscalls that `pick` selects, at most
// kMaxStacksPerFinding of them (unwinding is the expensive part).
template <typename Pick, typename Use>
void for_sampled_syscalls(const Index& ctx, const SchedSection& sec, Pick pick, Use use) {
  size_t used = 0;
  for (const auto& s : sec.long_syscalls) {
    if (s.stack < 0 || !pick(s)) continue;
    if (++used > th::kMaxStacksPerFinding) break;
    auto ufs = ctx.user_frames(s.stack);
    if (!ufs.empty()) use(s, ufs);
  }
}

void fill_cost(Finding& f, const Index& ctx, double cost_s) {
  f.cost_thread_s = cost_s;
  f.cost_share = ctx.cost_share(cost_s);
}

// Where a process's threads were created (its stack-sampled clone calls).
void add_spawn_sites(const Index& ctx, const SchedSection& sec, uint32_t pid, SiteTally& sites) {
  for_sampled_syscalls(
      ctx, sec, [&](const SyscallSample& s) { return s.pid == pid && classify_syscall(s.nr) == SyscallClass::kSpawn; },
      [&](const SyscallSample&, const std::vector<const Frame*>& ufs) { sites.add(ufs[0]->loc, 1); });
}

// ---- lock-held-across-io (scenario 13) ------------------------------------------------

struct OwnerSyscall {
  double wait_s = 0;
  uint64_t waits = 0;
};

std::vector<Finding> lock_held_across_io(const Index& ctx, const SchedView& v) {
  const SchedSection& sec = v.sec;
  const Recording& rec = v.rec;
  const std::vector<LockInfo>& locks = ctx.locks;
  std::map<std::pair<uint32_t, uint64_t>, std::vector<const FutexWait*>> waits_of;
  for (const auto& w : rec.futex_waits) waits_of[ctx.lock_key(w.pid, w.uaddr)].push_back(&w);

  std::vector<Finding> out;
  for (const LockInfo& l : locks) {
    if (l.type != "mutex" && l.type != "rwlock") continue;  // condvar waits have no owner
    auto wit = waits_of.find({l.pid, l.uaddr});
    if (wit == waits_of.end()) continue;
    double total_s = 0, explained_s = 0;
    uint64_t explained_waits = 0;
    std::map<int32_t, OwnerSyscall> by_syscall;
    std::set<std::pair<int32_t, uint64_t>> owner_ips;      // (syscall, user ip)
    std::set<std::pair<uint32_t, uint64_t>> owner_calls;   // (owner tid, syscall entry)
    std::set<uint32_t> owners;
    for (const FutexWait* w : wit->second) {
      double d = w->duration_ns / 1e9;
      total_s += d;
      if (w->owner_tid <= 0 || static_cast<uint32_t>(w->owner_tid) == w->tid) continue;
      const ThreadRow* o = ctx.threads.find(static_cast<uint32_t>(w->owner_tid));
      if (!o || o->pid != w->pid) continue;  // not a thread of the target: no owner
      if (w->owner_syscall < 0 || !is_blocking_syscall(w->owner_syscall)) continue;
      explained_s += d;
      ++explained_waits;
      auto& s = by_syscall[w->owner_syscall];
      s.wait_s += d;
      s.waits++;
      owner_ips.insert({w->owner_syscall, w->owner_syscall_ip});
      owner_calls.insert({static_cast<uint32_t>(w->owner_tid), w->owner_syscall_since_ns});
      owners.insert(static_cast<uint32_t>(w->owner_tid));
    }
    double share = total_s > 0 ? explained_s / total_s : 0;
    if (share < th::kLockIoMinShare || explained_s < th::kLockIoMinWaitS || explained_waits < th::kLockIoMinWaits)
      continue;
    // The kernel totals are complete even when wait events were dropped.
    double cost_s = l.total_wait_s > 0 ? l.total_wait_s * share : explained_s;

    // Where the owner did that I/O: its sampled stacks at those syscalls. The frame
    // that also takes the lock (a waiter site's function) is the call made under it.
    std::set<std::string> lock_functions;
    for (const auto& s : l.sites) lock_functions.insert(function_identity(s.loc));
    SiteTally holder_sites, io_sites;
    std::vector<double> owner_io_ms;
    size_t used = 0;
    for (const auto& s : sec.long_syscalls) {
      if (s.pid != l.pid) continue;
      bool exact = owner_calls.count({s.tid, s.enter_ns}) > 0;
      if (!exact && !owner_ips.count({s.nr, s.ip})) continue;
      if (exact) owner_io_ms.push_back(s.duration_ns / 1e6);
      if (s.stack < 0 || used >= kMaxStacksPerFinding) continue;
      ++used;
      auto ufs = ctx.user_frames(s.stack);
      if (ufs.empty()) continue;
      double w = s.duration_ns / 1e9;
      io_sites.add(ufs.front()->loc, w);
      for (const Frame* f : ufs)
        if (lock_functions.count(function_identity(f->loc))) {
          holder_sites.add(f->loc, w);
          break;
        }
    }

    std::vector<std::pair<int32_t, OwnerSyscall>> sorted(by_syscall.begin(), by_syscall.end());
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.wait_s > b.second.wait_s; });
    std::vector<std::string> names;
    json syscalls = json::array();
    for (const auto& [nr, s] : sorted) {
      names.push_back(syscall_name(nr) + "()");
      syscalls.push_back({{"syscall", syscall_name(nr)}, {"nr", nr}, {"wait_s", s.wait_s}, {"waits", s.waits},
                          {"share", total_s > 0 ? s.wait_s / total_s : 0}});
    }
    const std::string name = lock_display_name(l);
    const std::string calls = absl::StrJoin(names, ", ");

    Finding f = new_finding("lock-held-across-io");
    f.subject = lock_subject(l);
    // It replaces the general lock-contention finding when it explains most of the wait.
    f.explains_subject = total_s > 0 && explained_s / total_s >= th::kIoExplainsLockShare;
    f.title = absl::StrFormat("%s is held across blocking I/O (%s)", name, calls);
    fill_cost(f, ctx, cost_s);
    f.confidence = explained_waits >= th::kHighConfidenceWaits && (!holder_sites.empty() || !io_sites.empty())
                       ? "high"
                       : "medium";
    std::string where;
    if (const CodeLocation* h = holder_sites.top())
      where = absl::StrFormat(" The owner does that I/O at %s, inside the critical section.", site_text(*h));
    else if (const CodeLocation* io = io_sites.top())
      where = absl::StrFormat(" The owner's I/O is at %s.", site_text(*io));
    std::string io_time;
    if (!owner_io_ms.empty())
      io_time = absl::StrFormat(" Each such call took %.1f ms (median) while every other thread waited.",
                                median(owner_io_ms));
    f.explanation = absl::StrFormat(
        "%d of the waits for %s (%.3f s, %s of all waiting on it) began while the lock's owner was blocked in "
        "%s; %d different owner threads did so.%s%s The critical section lasts as long as the I/O, so the "
        "lock serialises every thread behind one thread's I/O: throughput is capped at one I/O at a time, "
        "whatever the number of threads or cores.",
        explained_waits, name, explained_s, pct(share), calls, owners.size(), where, io_time);
    add_hold_evidence(f, ctx, l.pid, l.uaddr);
    f.remedy.text = absl::StrFormat(
        "Hold %s only over the in-memory state, never across %s: look the key up under the lock, release it, "
        "do the I/O with no lock held, then lock again briefly to insert the result (first writer wins). The "
        "critical section shrinks from the I/O's milliseconds to the map update's nanoseconds. If two threads "
        "missing the same key must not both load it, add per-key single-flight (one in-flight load per key, the "
        "others wait for its result) instead of a global lock.",
        name, calls);
    f.remedy.before =
        "Value get(int key) {\n"
        "  std::lock_guard<std::mutex> lock(g_cache_mutex);\n"
        "  auto it = g_cache.find(key);\n"
        "  if (it != g_cache.end()) return it->second;\n"
        "  Value v = load_from_backend(key);  // slow I/O under the lock\n"
        "  g_cache.emplace(key, v);\n"
        "  return v;\n"
        "}";
    f.remedy.after =
        "Value get(int key) {\n"
        "  {\n"
        "    std::lock_guard<std::mutex> lock(g_cache_mutex);\n"
        "    auto it = g_cache.find(key);\n"
        "    if (it != g_cache.end()) return it->second;\n"
        "  }\n"
        "  Value v = load_from_backend(key);  // no lock held\n"
        "  std::lock_guard<std::mutex> lock(g_cache_mutex);\n"
        "  return g_cache.emplace(key, v).first->second;  // brief, in-memory only\n"
        "}";
    holder_sites.append_to(f.locations, "does I/O while holding the lock", 2);
    io_sites.append_to(f.locations, absl::StrFormat("the owner's I/O call (%s)", calls), 2);
    if (f.locations.empty() && !owner_ips.empty()) {
      // No stack unwound: name the syscall wrapper at least.
      if (Symbolizer* sym = ctx.symbolizer(l.pid)) {
        const CodeLocation& c = sym->code(owner_ips.begin()->second);
        SiteTally t;
        t.add(c, 1);
        t.append_to(f.locations, "the owner's syscall (no user stack)", 1);
      }
    }
    for (const auto& s : l.sites) {
      if (f.locations.size() >= 6) break;
      f.locations.push_back(to_source_location(s.loc, "waits for the lock here", s.share));
    }
    f.evidence["lock"] = lock_to_json(l, ctx.threads);
    f.evidence["wait_share"] = share;
    f.evidence["explained_wait_s"] = explained_s;
    f.evidence["explained_waits"] = explained_waits;
    f.evidence["event_wait_s"] = total_s;
    f.evidence["owner_syscalls"] = syscalls;
    f.evidence["owner_threads"] = owners.size();
    f.evidence["owner_io_median_ms"] = owner_io_ms.empty() ? json(nullptr) : json(median(owner_io_ms));
    f.evidence["owner_call_sites"] = holder_sites.to_json();
    f.evidence["owner_io_sites"] = io_sites.to_json();
    out.push_back(std::move(f));
  }
  return out;
}

// ---- pool-saturated-io (scenario 5) ------------------------------------------------------

std::vector<Finding> pool_saturated_io(const Index& ctx, const SchedView& v) {
  const auto& [sec, rec, duration, cores] = v;
  std::vector<Finding> out;

  std::map<uint32_t, double> on_cpu_of_pid;
  for (const auto& t : sec.threads) on_cpu_of_pid[t.pid] += t.on_cpu_ns / 1e9;
  // The blocking call each thread makes most often (pools doing different I/O differ).
  std::map<uint32_t, std::map<std::pair<int32_t, uint64_t>, uint64_t>> sites_of_tid;
  for (const auto& s : sec.long_syscalls)
    if (is_blocking_syscall(s.nr)) sites_of_tid[s.tid][{s.nr, s.ip}]++;

  using GroupKey = std::tuple<uint32_t, std::string, int32_t, uint64_t>;
  std::map<GroupKey, std::vector<const SchedThread*>> groups;
  for (const auto& t : sec.threads) {
    if (t.tid == t.pid) continue;  // the main thread submits and joins; it is not a worker
    double life = ctx.thread_lifetime_s(t.tid);
    if (life < th::kPoolMinLifetimeShare * duration) continue;
    if (blocking_count(t) / life < th::kPoolMinBlockingCallsPerS) continue;
    std::pair<int32_t, uint64_t> site{-1, 0};
    auto it = sites_of_tid.find(t.tid);
    if (it != sites_of_tid.end())
      site = std::max_element(it->second.begin(), it->second.end(),
                              [](auto& a, auto& b) { return a.second < b.second; })
                 ->first;
    groups[{t.pid, t.comm, site.first, site.second}].push_back(&t);
  }

  for (const auto& [key, workers] : groups) {
    const uint32_t pid = std::get<0>(key);
    const int32_t site_nr = std::get<2>(key);
    const size_t n = workers.size();
    if (n < static_cast<size_t>(th::kPoolMinWorkers)) continue;
    double sum_on = 0, sum_io = 0, sum_life = 0;
    size_t saturated = 0;
    json per_worker = json::array();
    for (const SchedThread* t : workers) {
      double life = ctx.thread_lifetime_s(t->tid), on = t->on_cpu_ns / 1e9, io = t->blocking_syscall_ns() / 1e9;
      double busy = std::min(1.0, (on + io) / life);
      if (busy >= th::kPoolMinBusyShare) ++saturated;
      sum_on += on;
      sum_io += io;
      sum_life += life;
      per_worker.push_back({{"tid", t->tid}, {"busy_share", busy}, {"io_s", io}, {"on_cpu_s", on}});
    }
    // Every worker, allowing one in ten to be the exception (a worker started late).
    if (saturated < n - n / 10) continue;
    double busy_share = std::min(1.0, (sum_on + sum_io) / sum_life);
    double io_share = sum_on + sum_io > 0 ? sum_io / (sum_on + sum_io) : 0;
    if (io_share < th::kPoolMinIoShare) continue;
    double cpu_util = on_cpu_of_pid[pid] / (cores * duration);
    if (cpu_util > th::kPoolMaxCpuUtilization) continue;
    double suggested = littles_law_pool_size(cores, th::kPoolTargetUtilization, sum_io, sum_on);
    int suggested_n = static_cast<int>(std::ceil(suggested));
    if (suggested_n < th::kPoolMinGrowth * n) continue;

    std::string call = site_nr >= 0 ? syscall_name(site_nr) + "()" : "blocking syscalls";
    SiteTally io_sites, callers;
    std::set<uint32_t> tids;
    for (const SchedThread* t : workers) tids.insert(t->tid);
    for_sampled_syscalls(
        ctx, sec, [&](const SyscallSample& s) { return tids.count(s.tid) && is_blocking_syscall(s.nr); },
        [&](const SyscallSample& s, const std::vector<const Frame*>& ufs) {
          io_sites.add(ufs[0]->loc, s.duration_ns / 1e9);
          if (ufs.size() > 1) callers.add(ufs[1]->loc, s.duration_ns / 1e9);
        });
    double ratio = sum_on > 0 ? sum_io / sum_on : 0;

    Finding f = new_finding("pool-saturated-io");
    f.subject = {SubjectKind::kThreadPool, pid, 0, absl::StrFormat("the pool of %d threads", n)};
    f.title = absl::StrFormat("A pool of %d threads is saturated by blocking I/O while the CPUs idle", n);
    fill_cost(f, ctx, sum_io);
    f.confidence = io_sites.empty() ? "medium" : "high";
    std::string where;
    if (const CodeLocation* io = io_sites.top())
      where = absl::StrFormat(" The workers block at %s.", site_text(*io));
    f.explanation = absl::StrFormat(
        "All %d worker threads were busy %s of their time, and %s of that busy time was blocked in %s, not "
        "computing (wait/compute = %.0f). Meanwhile the process used only %s of the %g cores. The pool is "
        "sized like a CPU-bound one, so tasks queue behind threads that are only waiting.%s Little's law: "
        "threads ≈ cores × utilisation × (1 + wait/compute) = %g × %.1f × (1 + %.0f) ≈ %d threads.",
        n, pct(busy_share), pct(io_share), call, ratio, pct(cpu_util), cores, where, cores,
        th::kPoolTargetUtilization, ratio, suggested_n);
    f.remedy.text = absl::StrFormat(
        "Size the I/O pool by Little's law, not by the core count: about %d threads for this wait/compute "
        "ratio (%d now), and keep CPU-bound work on a separate pool of ≈ %g threads (bulkhead). Or stop "
        "blocking threads on I/O: non-blocking I/O with an event loop (epoll, io_uring) or coroutines lets "
        "a few threads keep thousands of requests in flight.",
        suggested_n, n, cores);
    f.remedy.before =
        "// one pool for everything, sized for CPU work\n"
        "ThreadPool pool(std::thread::hardware_concurrency());\n"
        "pool.submit([] { auto reply = call_upstream(); /* blocks ~ms */ process(reply); });";
    f.remedy.after = absl::StrFormat(
        "// I/O pool sized by Little's law: cores x 0.9 x (1 + wait/compute)\n"
        "ThreadPool io_pool(%d);\n"
        "ThreadPool cpu_pool(std::thread::hardware_concurrency());\n"
        "io_pool.submit([] {\n"
        "  auto reply = call_upstream();\n"
        "  cpu_pool.submit([reply] { process(reply); });\n"
        "});",
        suggested_n);
    io_sites.append_to(f.locations, absl::StrFormat("a pool thread blocks in %s here", call), 2);
    callers.append_to(f.locations, "called from", 2);
    f.evidence = {{"workers", n},
                  {"busy_share", busy_share},
                  {"io_share", io_share},
                  {"cpu_utilization", cpu_util},
                  {"cores", cores},
                  {"io_wait_s", sum_io},
                  {"compute_s", sum_on},
                  {"wait_compute_ratio", ratio},
                  {"target_utilization", th::kPoolTargetUtilization},
                  {"suggested_pool_size", suggested_n},
                  {"syscall", site_nr >= 0 ? json(syscall_name(site_nr)) : json(nullptr)},
                  {"per_worker", per_worker},
                  {"io_sites", io_sites.to_json()}};
    out.push_back(std::move(f));
  }
  return out;
}

// ---- oversubscription -----------------------------------------------------------------------

std::vector<Finding> oversubscription(const Index& ctx, const SchedView& v) {
  const auto& [sec, rec, duration, cores] = v;
  std::vector<Finding> out;
  std::map<uint32_t, std::vector<const SchedThread*>> cpu_bound;
  for (const auto& t : sec.threads) {
    double life = ctx.thread_lifetime_s(t.tid);
    if (life < th::kOversubMinLifetimeShare * duration) continue;
    if ((t.on_cpu_ns + t.runq_ns) / 1e9 < th::kOversubCpuBoundShare * life) continue;
    cpu_bound[t.pid].push_back(&t);
  }
  for (const auto& [pid, threads] : cpu_bound) {
    const size_t n = threads.size();
    if (n < th::kOversubMinThreadsPerCore * cores) continue;
    double on = 0, runq = 0, life = 0, max_runq = 0;
    uint64_t invol = 0, vol = 0;
    for (const SchedThread* t : threads) {
      on += t->on_cpu_ns / 1e9;
      runq += t->runq_ns / 1e9;
      life += ctx.thread_lifetime_s(t->tid);
      max_runq = std::max(max_runq, t->max_runq_ns / 1e9);
      invol += t->involuntary_switches;
      vol += t->voluntary_switches;
    }
    double runq_share = life > 0 ? runq / life : 0;
    if (runq_share < th::kOversubMinRunqShare) continue;
    double runnable_avg = (on + runq) / duration;
    double invol_rate = invol / duration;
    // Where those threads were created, when that happened inside the profile.
    SiteTally spawn_sites;
    add_spawn_sites(ctx, sec, pid, spawn_sites);

    Finding f = new_finding("oversubscription");
    f.subject = {SubjectKind::kThreadPool, pid, 0, absl::StrFormat("%d CPU-bound threads", n)};
    f.title = absl::StrFormat("%d CPU-bound threads share %g cores", n, cores);
    fill_cost(f, ctx, runq);
    f.confidence = "high";
    f.explanation = absl::StrFormat(
        "%d threads were on a CPU or waiting for one %s of their lives, on %g cores: on average %.1f threads "
        "were runnable at once, %.1f per core. They spent %.3f s (%s of their time) runnable but waiting for a "
        "CPU (up to %.1f ms at a time) and were preempted %.0f times a second (%d involuntary against %d "
        "voluntary switches). More threads than cores add switches and cache misses, not throughput.",
        n, pct((on + runq) / life), cores, runnable_avg, runnable_avg / cores, runq, pct(runq_share),
        max_runq * 1e3, invol_rate, invol, vol);
    f.remedy.text = absl::StrFormat(
        "Run CPU-bound work on about as many threads as cores (%g here, perhaps %g + 1 to cover page faults), "
        "and split the work into more tasks than threads instead of more threads: a fixed pool draining a "
        "queue. Keep blocking I/O on its own pool so it does not steal these threads.",
        cores, cores);
    f.remedy.before = absl::StrFormat(
        "std::vector<std::thread> threads;\n"
        "for (int i = 0; i < %d; ++i)  // %d CPU-bound threads\n"
        "  threads.emplace_back(crunch, chunk(i, %d));",
        n, n, n);
    f.remedy.after =
        "unsigned n = std::thread::hardware_concurrency();  // ≈ cores\n"
        "std::atomic<int> next{0};\n"
        "for (unsigned i = 0; i < n; ++i)\n"
        "  threads.emplace_back([&] { for (int c; (c = next++) < kChunks;) crunch(chunk(c, kChunks)); });";
    spawn_sites.append_to(f.locations, "creates the threads", 3);
    f.evidence = {{"cpu_bound_threads", n},
                  {"cores", cores},
                  {"threads_per_core", n / cores},
                  {"runnable_avg", runnable_avg},
                  {"runq_wait_s", runq},
                  {"runq_share", runq_share},
                  {"max_runq_ms", max_runq * 1e3},
                  {"involuntary_switches_per_s", invol_rate},
                  {"suggested_threads", cores}};
    out.push_back(std::move(f));
  }
  return out;
}

// ---- thread-churn (scenario 8) -------------------------------------------------------------

std::vector<Finding> thread_churn(const Index& ctx, const SchedView& v) {
  const auto& [sec, rec, duration, cores] = v;
  std::vector<Finding> out;
  std::map<uint32_t, std::vector<const SchedThread*>> by_pid;
  for (const auto& t : sec.threads) by_pid[t.pid].push_back(&t);
  for (const auto& [pid, threads] : by_pid) {
    std::vector<double> lifetimes, task_cpu;
    uint64_t created = 0, switches = 0;
    double overhead = 0, start_delay = 0;
    for (const SchedThread* t : threads) {
      switches += t->voluntary_switches + t->involuntary_switches;
      overhead += (t->class_ns(SyscallClass::kSpawn) + t->class_ns(SyscallClass::kThread) +
                   t->class_ns(SyscallClass::kMemory) + t->class_ns(SyscallClass::kMemoryGrow)) /
                  1e9;
      if (!t->created_ns || t->created_ns < rec.start_ns) continue;
      ++created;
      if (t->exited_ns) {
        double life = ctx.thread_lifetime_s(t->tid);
        lifetimes.push_back(life);
        task_cpu.push_back(t->on_cpu_ns / 1e9);
        if (life < th::kChurnMaxMedianLifetimeS) start_delay += t->runq_ns / 1e9;
      }
    }
    double rate = created / duration;
    double med_life = median(lifetimes);
    if (created < th::kChurnMinThreads || rate < th::kChurnMinCreationsPerS || lifetimes.empty() ||
        med_life > th::kChurnMaxMedianLifetimeS)
      continue;
    double med_cpu = median(task_cpu);
    SiteTally spawn_sites;
    add_spawn_sites(ctx, sec, pid, spawn_sites);
    double cost = overhead + start_delay;

    Finding f = new_finding("thread-churn");
    f.subject = {SubjectKind::kProcess, pid, 0, ctx.comm(pid)};
    f.title = absl::StrFormat("%.0f threads created per second, each living %.0f µs", rate, med_life * 1e6);
    fill_cost(f, ctx, cost);
    f.confidence = spawn_sites.empty() ? "medium" : "high";
    std::string where;
    if (const CodeLocation* s = spawn_sites.top()) where = absl::StrFormat(" They are created at %s.", site_text(*s));
    f.explanation = absl::StrFormat(
        "The process created %d threads in %.2f s (%.0f per second); the median thread lived %.0f µs and ran "
        "%.0f µs on a CPU: one OS thread per small task.%s Creating, starting and ending those threads cost "
        "%.3f s in clone/mmap/munmap/exit and waiting to be first scheduled, and the process switched "
        "context %.0f times a second. A thread costs ~10-100 µs to create and ~MB of stack; the task is "
        "smaller than its thread.",
        created, duration, rate, med_life * 1e6, med_cpu * 1e6, where, cost, switches / duration);
    f.remedy.text =
        "Decouple tasks from OS threads: start a fixed pool of ≈ cores threads once and hand them tasks "
        "through a queue (or an atomic index into the task list), instead of std::thread per task. For I/O "
        "tasks use an I/O pool sized by Little's law or asynchronous I/O; never one thread per task at scale.";
    f.remedy.before =
        "for (auto& task : tasks) {\n"
        "  std::thread t(run_task, task);  // a new OS thread per ~µs task\n"
        "  t.join();\n"
        "}";
    f.remedy.after =
        "std::atomic<size_t> next{0};\n"
        "std::vector<std::thread> pool;\n"
        "for (unsigned i = 0; i < std::thread::hardware_concurrency(); ++i)\n"
        "  pool.emplace_back([&] { for (size_t k; (k = next++) < tasks.size();) run_task(tasks[k]); });\n"
        "for (auto& t : pool) t.join();";
    spawn_sites.append_to(f.locations, "creates a thread per task", 3);
    f.evidence = {{"threads_created", created},
                  {"creations_per_s", rate},
                  {"median_lifetime_s", med_life},
                  {"median_on_cpu_s", med_cpu},
                  {"context_switches_per_s", switches / duration},
                  {"creation_overhead_s", overhead},
                  {"start_delay_s", start_delay},
                  {"spawn_sites", spawn_sites.to_json()}};
    out.push_back(std::move(f));
  }
  return out;
}

// ---- unbounded-queue (scenario 10) -----------------------------------------------------------

// Whether another thread of `pid` takes what `producer` puts: a queue is a hand-off, so
// both lock it (the lock-rate collector's per-thread calls of one mutex), or one waited
// on a lock the other held (the futex collector's owner at the wait). Without either,
// growing memory is the program's own data (a cache filled once, a parsed input).
bool handoff_seen(const Index& ctx, const Recording& rec, uint32_t pid, uint32_t producer) {
  for (const auto& rate : ctx.lock_rates)
    if (rate.pid == pid && rate.tids.count(producer) && rate.tids.size() >= 2) return true;
  for (const auto& w : rec.futex_waits) {
    if (w.pid != pid || w.owner_tid <= 0) continue;
    const auto owner = static_cast<uint32_t>(w.owner_tid);
    if (owner != w.tid && (owner == producer || w.tid == producer)) return true;
  }
  return false;
}


std::vector<Finding> unbounded_queue(const Index& ctx, const SchedView& v) {
  const auto& [sec, rec, duration, cores] = v;
  std::vector<Finding> out;
  std::map<uint32_t, std::vector<RssSample>> rss_of;
  for (const auto& r : sec.rss) rss_of[r.pid].push_back(r);
  for (auto& [pid, samples] : rss_of) {
    if (samples.size() < th::kQueueMinSamples) continue;
    std::sort(samples.begin(), samples.end(), [](auto& a, auto& b) { return a.time_ns < b.time_ns; });
    size_t i_min = 0;
    for (size_t i = 1; i < samples.size(); ++i)
      if (samples[i].anon_bytes < samples[i_min].anon_bytes) i_min = i;
    size_t i_max = i_min;
    for (size_t i = i_min; i < samples.size(); ++i)
      if (samples[i].anon_bytes > samples[i_max].anon_bytes) i_max = i;
    if (i_max - i_min + 1 < th::kQueueMinSamples) continue;
    double lo = samples[i_min].anon_bytes, hi = samples[i_max].anon_bytes, growth = hi - lo;
    if (growth < th::kQueueMinGrowthBytes || growth < th::kQueueMinGrowthShare * lo) continue;
    // Steady: RSS rose in most intervals where it moved at all (by more than 256 KiB).
    size_t rising = 0, moving = 0;
    for (size_t i = i_min + 1; i <= i_max; ++i) {
      double d = static_cast<double>(samples[i].anon_bytes) - samples[i - 1].anon_bytes;
      if (std::fabs(d) < 256.0 * 1024) continue;
      ++moving;
      if (d > 0) ++rising;
    }
    double rising_share = moving ? static_cast<double>(rising) / moving : 0;
    if (rising_share < th::kQueueMinRisingShare) continue;
    // Least-squares slope over the growth window.
    double n = i_max - i_min + 1, st = 0, sr = 0, stt = 0, str = 0;
    for (size_t i = i_min; i <= i_max; ++i) {
      double t = (samples[i].time_ns - samples[i_min].time_ns) / 1e9, r = samples[i].anon_bytes;
      st += t;
      sr += r;
      stt += t * t;
      str += t * r;
    }
    double den = n * stt - st * st;
    double slope = den > 0 ? (n * str - st * sr) / den : 0;
    double window_s = (samples[i_max].time_ns - samples[i_min].time_ns) / 1e9;

    // The producer: a long-lived thread that never blocks, preferably the one whose
    // allocations grew the heap (sampled brk/mmap stacks).
    std::map<uint32_t, uint64_t> grow_samples;
    for (const auto& s : sec.long_syscalls)
      if (s.pid == pid && classify_syscall(s.nr) == SyscallClass::kMemoryGrow) grow_samples[s.tid]++;
    const SchedThread* producer = nullptr;
    double producer_blocked = 1;
    for (const auto& t : sec.threads) {
      if (t.pid != pid) continue;
      double life = ctx.thread_lifetime_s(t.tid);
      if (life < th::kQueueProducerMinLifeShare * duration) continue;
      double blocked = (t.blocking_syscall_ns() + t.class_ns(SyscallClass::kFutex)) / 1e9 / life;
      if (blocked > th::kQueueProducerMaxBlockedShare) continue;
      if (!producer || grow_samples[t.tid] > grow_samples[producer->tid] ||
          (grow_samples[t.tid] == grow_samples[producer->tid] && t.on_cpu_ns > producer->on_cpu_ns)) {
        producer = &t;
        producer_blocked = blocked;
      }
    }
    if (!producer) continue;  // every thread waits: not a producer outrunning its consumer
    if (!handoff_seen(ctx, rec, pid, producer->tid)) continue;  // nothing takes from it: not a queue

    SiteTally enqueue_sites, alloc_sites;
    size_t used = 0;
    Symbolizer* sym = ctx.symbolizer(pid);
    std::map<uint64_t, bool> user_lock;  // futex address -> a lock of the program (not libc's malloc arena)
    for (const auto& w : rec.futex_waits) {
      if (w.tid != producer->tid || w.stack < 0) continue;
      auto ul = user_lock.find(w.uaddr);
      if (ul == user_lock.end())
        ul = user_lock.emplace(w.uaddr, !sym || !is_system_object(sym->data(w.uaddr).module)).first;
      if (!ul->second) continue;
      // The allocator's own arena lock (thread arenas live in anonymous memory) is not the queue's.
      bool in_allocator = false;
      for (const Frame& fr : ctx.frames(w.stack)) {
        if (!fr.loc.in_system_library) break;
        const std::string& fn = fr.loc.function;
        if (fn.find("malloc") != std::string::npos || fn.find("free") != std::string::npos ||
            fn.find("arena") != std::string::npos)
          in_allocator = true;
      }
      if (in_allocator) continue;
      if (++used > kMaxStacksPerFinding) break;
      if (const Frame* uf = ctx.user_frame(w.stack)) enqueue_sites.add(uf->loc, 1);
    }
    // No wait of the producer on a lock of the program was sampled (it rarely has to
    // wait: that is the problem): where it takes such a lock at all, from the lock-rate
    // uprobe's call sites, is where it hands items over.
    if (!enqueue_sites.top())
      for (const auto& rate : ctx.lock_rates) {
        if (rate.pid != pid || !rate.tids.count(producer->tid)) continue;
        if (sym && is_system_object(sym->data(rate.lock).module)) continue;
        for (const auto& site : rate.sites)
          if (site.tids.count(producer->tid)) enqueue_sites.add(site.loc, static_cast<double>(site.calls));
      }
    used = 0;
    for (const auto& s : sec.long_syscalls) {
      if (s.tid != producer->tid || s.stack < 0 || classify_syscall(s.nr) != SyscallClass::kMemoryGrow) continue;
      if (++used > kMaxStacksPerFinding) break;
      auto ufs = ctx.user_frames(s.stack);
      if (!ufs.empty()) alloc_sites.add(ufs[0]->loc, 1);
    }
    double producer_life = ctx.thread_lifetime_s(producer->tid);
    double cost = producer->on_cpu_ns / 1e9 * (producer_life > 0 ? std::min(1.0, window_s / producer_life) : 1);

    Finding f = new_finding("unbounded-queue");
    f.subject = {SubjectKind::kProcess, pid, 0, ctx.comm(pid)};
    f.title = absl::StrFormat("Memory grows %s/s while the producer never blocks", mib(slope));
    fill_cost(f, ctx, cost);
    f.confidence = rising_share > th::kQueueHighConfidenceRisingShare &&
                           producer_blocked < th::kQueueHighConfidenceMaxBlockedShare
                       ? "high"
                       : "medium";
    std::string where;
    if (const CodeLocation* e = enqueue_sites.top())
      where = absl::StrFormat(" It enqueues at %s without ever waiting for space.", site_text(*e));
    else if (const CodeLocation* a = alloc_sites.top())
      where = absl::StrFormat(" The memory is allocated at %s.", site_text(*a));
    f.explanation = absl::StrFormat(
        "The anonymous resident memory (heap, not file pages) grew from %s to %s in %.1f s (%s/s, rising in %s of the samples), while thread "
        "%d (%s) was blocked only %s of its life: nothing slows the producer down, so the rate gap between it "
        "and its consumer turns into queued items in memory.%s Left running, the process ends out of memory; "
        "a bigger queue only delays that.",
        mib(lo), mib(hi), window_s, mib(slope), pct(rising_share), producer->tid, producer->comm,
        pct(producer_blocked), where);
    f.remedy.text =
        "Bound the queue so that a full queue blocks the producer (back-pressure): a capacity of a few hundred "
        "to a few thousand items absorbs bursts; the producer then runs at the consumer's pace and memory "
        "stays flat. If the producer cannot be slowed (the outside world), shed load instead of buffering; if "
        "the consumer is permanently slower, add consumers.";
    f.remedy.before =
        "void enqueue(Item item) {\n"
        "  std::lock_guard<std::mutex> lock(m);\n"
        "  q.push(std::move(item));  // never waits: grows without bound\n"
        "  not_empty.notify_one();\n"
        "}";
    f.remedy.after =
        "void enqueue(Item item) {\n"
        "  std::unique_lock<std::mutex> lock(m);\n"
        "  not_full.wait(lock, [] { return q.size() < kCapacity; });  // back-pressure\n"
        "  q.push(std::move(item));\n"
        "  not_empty.notify_one();\n"
        "}";
    enqueue_sites.append_to(f.locations, "the producer enqueues here", 2);
    alloc_sites.append_to(f.locations, "allocates the queued items", 2);
    f.evidence = {{"rss_start_bytes", lo},
                  {"rss_peak_bytes", hi},
                  {"growth_bytes", growth},
                  {"growth_bytes_per_s", slope},
                  {"growth_window_s", window_s},
                  {"rising_share", rising_share},
                  {"rss_samples", samples.size()},
                  {"producer", {{"tid", producer->tid}, {"comm", producer->comm},
                                {"blocked_share", producer_blocked}, {"on_cpu_s", producer->on_cpu_ns / 1e9}}}};
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Rule>> sched_rule_family() {
  return rule_family(make_rule({"lock-held-across-io"}, &with_sched<lock_held_across_io>),
                     make_rule({"pool-saturated-io"}, &with_sched<pool_saturated_io>),
                     make_rule({"oversubscription"}, &with_sched<oversubscription>),
                     make_rule({"thread-churn"}, &with_sched<thread_churn>),
                     make_rule({"unbounded-queue"}, &with_sched<unbounded_queue>));
}

double littles_law_pool_size(double cores, double target_utilization, double wait_s, double compute_s) {
  if (compute_s <= 0) return 0;  // no compute measured: the formula does not apply
  return cores * target_utilization * (1.0 + wait_s / compute_s);
}

}  // namespace ccprof::profiler
