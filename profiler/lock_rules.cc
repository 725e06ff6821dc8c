#include "profiler/lock_rules.h"

#include <algorithm>
#include <functional>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "profiler/catalog.h"
#include "profiler/rule.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"
#include "profiler/wait_chains.h"

namespace ccprof::profiler {
namespace {

namespace th = thresholds;

// Every lock-contention finding's end: the lock's row as evidence and its first five
// call sites, each with `role` (what the program does there).
Finding finish_lock_finding(Finding f, const LockInfo& l, const Index& ctx,
                            const std::function<std::string(const LockSite&)>& role) {
  f.evidence["lock"] = lock_to_json(l, ctx.threads);
  for (const auto& s : l.sites) {
    f.locations.push_back(to_source_location(s.loc, role(s), s.share));
    if (f.locations.size() >= 5) break;
  }
  return f;
}

Finding lock_contention_finding(const LockInfo& l, const Index& ctx) {
  Finding f = new_finding("lock-contention");
  const std::string name = lock_display_name(l);
  f.subject = lock_subject(l);
  f.title = absl::StrFormat("Threads serialise on %s", name);
  f.cost_thread_s = l.total_wait_s;
  f.cost_share = ctx.cost_share(l.total_wait_s);
  uint64_t top_stacks = l.sites.empty() ? 0 : l.sites.front().stacks;
  f.confidence = (l.waits >= th::kHighConfidenceWaits && top_stacks >= th::kHighConfidenceStacks) ? "high"
                 : l.sites.empty()                                                                ? "low"
                                                                                                  : "medium";
  std::string where;
  if (!l.sites.empty()) {
    where = absl::StrFormat(" %s of that wait is at %s", pct(l.sites.front().share), site_text(l.sites.front().loc));
    if (l.sites.size() > 1) where += absl::StrFormat(" (%d call sites in all)", l.sites.size());
    where += ".";
  }
  std::string owners;
  // Wakers exist only for waits that slept and were woken; the others never slept.
  const uint64_t could_name = l.owner_source == "waker" ? l.woken_waits : l.event_waits;
  if (could_name && l.waits_with_owner >= could_name * th::kOwnerEvidenceMinShare && !l.owners.empty()) {
    owners = absl::StrFormat(" The lock was held by %d different threads when waits began, so it is shared "
                             "by all of them rather than owned by one.",
                             l.owners.size());
    if (l.owners.size() == 1) owners = " One thread held it for every wait that named an owner.";
    // A lock without an owner field: the threads that woke its waiters released it.
    if (l.owner_source == "waker")
      owners = l.owners.size() == 1
                   ? " One thread released it to every waiter it woke."
                   : absl::StrFormat(" %d different threads released it to its waiters (each wait ended with "
                                     "their FUTEX_WAKE), so it is shared by all of them rather than owned by one.",
                                     l.owners.size());
  }
  // A lock that never slept (tbb::spin_mutex) has no owner field and no wake to read:
  // its holders are the threads sampled inside its critical section, when any was.
  if (l.owner_source == "sampled in section" && !l.owners.empty()) {
    uint64_t inside = 0;
    for (const auto& [tid, n] : l.owners) inside += n;
    owners = l.owners.size() == 1
                 ? absl::StrFormat(" One thread held it: the only one the memory sampler found inside its critical "
                                   "section (%d samples there), while the others spun.",
                                   inside)
                 : absl::StrFormat(" %d different threads were sampled inside its critical section (%d samples "
                                   "there), so it is shared by all of them rather than owned by one.",
                                   l.owners.size(), inside);
  } else if (l.owners.empty() && (l.yields || l.spin_samples) && l.waits == 0) {
    owners = l.spin_section_found
                 ? " Which threads held it is not known: a lock that only spins keeps no owner and wakes no waiter, "
                   "and no memory sample fell inside its critical section."
                 : " Which threads held it is not known: a lock that only spins keeps no owner and wakes no waiter.";
  }
  // A lock library that spins and yields before it sleeps (lock_yields.h): both count.
  // A lock that never slept (tbb::spin_mutex) was seen only by its yields.
  // A spin lock the program wrote (spin_locks.h): seen only by its samples spinning.
  const std::string how = l.spin_samples && !l.yields && l.waits == 0
                              ? absl::StrFormat("spinning in its acquisition loop (%d memory samples there, each "
                                                "%.1f ms of CPU; it never sleeps or yields)",
                                                l.spin_samples, ctx.memory.period_s * 1e3)
                          : l.yields && l.waits == 0
                              ? absl::StrFormat("in %d sched_yield() calls its lock library made while spinning "
                                                "for it (it never slept)",
                                                l.yields)
                          : l.yields ? absl::StrFormat("(%.3f s in %d futex waits, %.3f s in %d sched_yield() calls "
                                                     "its lock library made while spinning for it)",
                                                     l.total_wait_s - l.yield_s, l.waits, l.yield_s, l.yields)
                                   : absl::StrFormat("in %d futex waits", l.waits);
  f.explanation = absl::StrFormat(
      "%d threads waited %.3f s %s for %s (a %s, %s region%s), %s of their time%s.%s%s Every wait is time a "
      "thread could have worked: the threads run one at a time through this lock.",
      l.waiters.size(), l.total_wait_s, how, name, l.type, l.data.region,
      l.data.region_detail.empty() ? "" : ", " + l.data.region_detail, pct(l.wait_share()),
      l.waits ? absl::StrFormat("; the longest wait was %.2f ms", l.max_wait_s * 1e3) : std::string(),
      where, owners);
  add_hold_evidence(f, ctx, l.pid, l.uaddr);
  nlohmann::json chains;
  if (std::string behind = chains_behind_lock(ctx, l.pid, l.uaddr, &chains); !behind.empty()) {
    f.explanation += behind;
    f.evidence["wait_chains"] = chains;
  }
  // A lock the allocator takes inside malloc()/free() on the program's behalf.
  std::string via;
  for (const auto& s : l.sites)
    if (s.direct_stacks * 2 < s.stacks && !s.via.empty()) via = s.via;
  if (absl::StrContains(via, "free") || absl::StrContains(via, "malloc") || absl::StrContains(via, "alloc") ||
      absl::StrContains(via, "operator delete") || absl::StrContains(via, "operator new")) {
    f.title = absl::StrFormat("Threads serialise on the allocator's lock (taken inside %s)", via);
    f.explanation += absl::StrFormat(" The lock is not the program's: %s takes it (glibc malloc's arena lock).",
                                     via);
    f.remedy.text = absl::StrFormat(
        "The threads contend inside the memory allocator (%s). Allocate less in the hot path (reuse buffers, "
        "reserve containers once, move ownership instead of copying), free memory on the thread that allocated it, "
        "or link a thread-caching allocator (jemalloc, tcmalloc, mimalloc) whose per-thread caches shard the "
        "allocator's state.",
        via);
    f.remedy.before =
        "for (...) {\n"
        "  std::deque<Item> batch;  // allocates and frees blocks every round\n"
        "  take(batch);\n"
        "}";
    f.remedy.after =
        "std::deque<Item> batch;  // one container, reused\n"
        "for (...) {\n"
        "  take(batch);\n"
        "  batch.clear();  // keeps its storage\n"
        "}";
    f.evidence["taken_inside"] = via;
    return finish_lock_finding(std::move(f), l, ctx, [&](const LockSite&) {
      return absl::StrFormat("calls %s, which waits for the allocator's lock", via);
    });
  }
  // A FILE's lock, taken inside printf()/fputs()/... (or std::cout) on the program's
  // behalf: one output stream shared by the threads, a line per lock round trip.
  if (std::string stream = stdio_stream(l.data.name, via); !stream.empty()) {
    const std::string what = stream == "a FILE" ? "a FILE's lock" : stream + "'s lock";
    const std::string inside = via.empty() ? "stdio" : via;
    f.title = absl::StrFormat("Threads serialise on %s (taken inside %s)", what, inside);
    f.explanation += absl::StrFormat(
        " The lock is not the program's: stdio takes %s in every call that reads or writes the stream (%s here), "
        "so the threads' writes run one at a time, one lock round trip per call.",
        what, inside);
    f.remedy.kind = "batch";
    f.remedy.text = absl::StrFormat(
        "Write less often to the shared stream: format each thread's output into a buffer of its own and write it "
        "with one call per batch (e.g. every 64 KiB, and at the end), or hand complete batches to one writer "
        "thread. std::cout shares the same lock while it is synced with stdio; do not unsync it to avoid the lock "
        "(concurrent use of an unsynced stream is a data race). %d threads contend here.",
        l.waiters.size());
    f.remedy.before =
        "void worker(int id) {\n"
        "  for (uint64_t n = 0; running(); ++n)\n"
        "    std::printf(\"worker %d line %lu\\n\", id, n);  // stdout's lock, every line\n"
        "}";
    f.remedy.after =
        "void worker(int id) {\n"
        "  std::string out;  // this thread's own buffer\n"
        "  char line[128];\n"
        "  for (uint64_t n = 0; running(); ++n) {\n"
        "    int len = std::snprintf(line, sizeof line, \"worker %d line %lu\\n\", id, n);\n"
        "    out.append(line, len);\n"
        "    if (out.size() >= 64 * 1024) {  // one lock round trip per 64 KiB\n"
        "      std::fwrite(out.data(), 1, out.size(), stdout);\n"
        "      out.clear();\n"
        "    }\n"
        "  }\n"
        "  std::fwrite(out.data(), 1, out.size(), stdout);\n"
        "}";
    if (!via.empty()) f.evidence["taken_inside"] = via;
    return finish_lock_finding(std::move(f), l, ctx, [&](const LockSite& s) {
      return absl::StrFormat("calls %s, which waits for %s", s.via.empty() ? inside : s.via, what);
    });
  }
  // A lock library's own lock, taken inside its lock functions whatever lock the
  // program takes: the remedy is the library's configuration.
  if (const LibraryInternalLock* in = l.internal) {
    f.title = absl::StrFormat("Threads serialise on %s, inside every %s lock call", in->what, in->library);
    f.cost_thread_s = l.cost_s();
    f.cost_share = ctx.cost_share(f.cost_thread_s);
    f.explanation += absl::StrFormat(
        " The lock is not the program's: it is in %s's static data, and %d of the %d sampled waits reached it "
        "from %s's lock functions, not from their contended slow path. %s",
        l.internal->library, l.internal_stacks, l.unwound_stacks, in->library, in->why);
    if (l.library_cpu_of_samples)
      f.explanation += absl::StrFormat(
          " Besides the waits, %s of the waiting threads' CPU samples (%d of %d, %.2f s) were in %s's "
          "synchronisation code, spinning for it and keeping its graph; the cost counts both.",
          pct(static_cast<double>(l.library_cpu_samples) / l.library_cpu_of_samples), l.library_cpu_samples,
          l.library_cpu_of_samples, l.library_cpu_s, in->library);
    f.remedy.kind = std::string(in->remedy_kind);
    f.remedy.text = std::string(in->remedy);
    f.remedy.before = std::string(in->before);
    f.remedy.after = std::string(in->after);
    return finish_lock_finding(std::move(f), l, ctx, [&](const LockSite&) {
      return absl::StrFormat("a %s lock call here takes %s", in->library, in->what);
    });
  }
  f.remedy.text = absl::StrFormat(
      "Stop sharing one lock between %d threads. If the lock guards a map or table, shard it: N stripes, each "
      "with its own mutex, chosen by the key's hash, so threads only collide when their keys share a stripe "
      "(N ≈ 4 × threads). If each thread only accumulates (counting, collecting), give each thread its own "
      "container and merge once at the end — no lock in the hot loop at all. Either way, keep the critical "
      "section to the shared update itself: compute keys and values before taking the lock.",
      l.waiters.size());
  f.remedy.before =
      "std::mutex g_table_mutex;\n"
      "std::unordered_map<std::string, int64_t> g_table;\n\n"
      "void count(const std::string& word) {\n"
      "  std::lock_guard<std::mutex> lock(g_table_mutex);  // every thread, every word\n"
      "  ++g_table[word];\n"
      "}";
  f.remedy.after =
      "// Per-thread maps, merged once: no lock in the hot loop.\n"
      "void worker(std::span<const std::string> words,\n"
      "            std::unordered_map<std::string, int64_t>& out) {\n"
      "  std::unordered_map<std::string, int64_t> local;\n"
      "  for (const auto& w : words) ++local[w];\n"
      "  std::lock_guard<std::mutex> lock(g_merge_mutex);  // once per thread\n"
      "  for (auto& [k, v] : local) out[k] += v;\n"
      "}\n"
      "// Or a striped map: 64 shards, shard = hash(key) % 64, one mutex each.";
  return finish_lock_finding(std::move(f), l, ctx, [](const LockSite&) { return "waits for the lock here"; });
}

}  // namespace

bool is_contended(const LockInfo& l, double total_thread_s) {
  (void)total_thread_s;
  // Only futexes shown to be locks: condvar and semaphore waits are idle or handoff
  // time, and an unclassified futex may be any of those.
  if (l.type != "mutex" && l.type != "rwlock") return false;
  // A library's internal lock spins before it sleeps: its waiters' spinning in the
  // library counts with their waits (lock_table.h cost_s).
  return l.cost_s() >= th::kLockContentionMinWaitS && l.cost_share() >= th::kLockContentionMinShare &&
         static_cast<int>(l.waiters.size()) >= th::kLockContentionMinWaiters;
}

std::vector<ContendedLock> contended_locks(const std::vector<LockInfo>& locks, double total_thread_s) {
  std::vector<ContendedLock> out;
  for (const auto& l : locks) {
    // A library's internal lock is not one the program's locking can change.
    if (!is_contended(l, total_thread_s) || l.internal) continue;
    ContendedLock c;
    c.info = &l;
    c.pid = l.pid;
    c.uaddr = l.uaddr;
    c.name = lock_display_name(l);
    uint64_t stacks = 0, direct = 0;
    for (const auto& s : l.sites) {
      c.sites.push_back(s.loc);
      c.site_pcs.insert(c.site_pcs.end(), s.return_pcs.begin(), s.return_pcs.end());
      stacks += s.stacks;
      direct += s.direct_stacks;
    }
    c.direct = stacks == 0 || direct * 2 >= stacks;
    for (const auto& other : locks) {
      if (other.type != "condvar" || other.pid != l.pid) continue;
      for (const auto& cs : other.sites)
        for (const auto& s : l.sites)
          if (cs.loc.function == s.loc.function) c.with_condvar = true;
    }
    c.wait_s = l.total_wait_s;
    c.share = l.wait_share();
    c.shared_share = l.unwound_stacks ? static_cast<double>(l.shared_stacks) / l.unwound_stacks : 0;
    out.push_back(std::move(c));
  }
  return out;
}

Subject lock_subject(uint32_t pid, uint64_t uaddr, const std::string& name) {
  return {SubjectKind::kLock, pid, uaddr, name};
}

Subject lock_subject(const LockInfo& lock) { return lock_subject(lock.pid, lock.uaddr, lock_display_name(lock)); }

namespace {

std::vector<Finding> lock_contention(const Index& index) {
  std::vector<Finding> out;
  for (const auto& l : index.locks)
    if (is_contended(l, index.total_thread_seconds())) out.push_back(lock_contention_finding(l, index));
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Rule>> lock_rule_family() {
  return rule_family(make_rule({"lock-contention"}, &lock_contention));
}

}  // namespace ccprof::profiler
