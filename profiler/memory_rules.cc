#include "profiler/memory_rules.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "profiler/address_yield.h"
#include "profiler/critical_section.h"
#include "profiler/data_naming.h"
#include "profiler/decode_access.h"
#include "profiler/lock_libraries.h"
#include "profiler/catalog.h"
#include "profiler/lock_table.h"
#include "profiler/python_reads.h"
#include "profiler/rule.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {
namespace th = thresholds;
namespace {

std::string hex(uint64_t a) { return hex_address(a); }

std::string join_numbers(const std::vector<uint32_t>& v) {
  std::vector<std::string> s;
  for (auto x : v) s.push_back(std::to_string(x));
  if (s.size() <= 1) return absl::StrJoin(s, "");
  return absl::StrCat(absl::StrJoin(s.begin(), s.end() - 1, ", "), " and ", s.back());
}

uint64_t samples_of(const MemoryRuleEnv& env, uint32_t tid) {
  auto it = env.thread_samples.find(tid);
  return it == env.thread_samples.end() ? 0 : it->second;
}

// Thread-seconds an amount of samples stands for.
double cost_of(const MemoryRuleEnv& env, const std::map<uint32_t, uint64_t>& samples_by_tid) {
  double s = 0;
  for (const auto& [tid, n] : samples_by_tid) {
    if (env.period_s > 0) {
      s += n * env.period_s;
    } else {
      uint64_t all = samples_of(env, tid);
      auto lt = env.thread_lifetime_s.find(tid);
      if (all && lt != env.thread_lifetime_s.end()) s += lt->second * n / static_cast<double>(all);
    }
  }
  return s;
}

std::string confidence_of(uint64_t samples) {
  return samples >= th::kMemoryHighConfidenceSamples ? "high"
         : samples >= th::kMemoryMediumConfidenceSamples ? "medium"
                                                          : "low";
}

// The instructions behind some offsets of a line, as source locations (merged per line).
std::vector<SourceLocation> locations_of(const CacheLine& line, const std::set<uint32_t>& offsets,
                                         const std::set<uint32_t>& tids, const MemoryRuleEnv& env) {
  std::map<std::tuple<std::string, std::string, int>, SourceLocation> by_line;
  uint64_t total = 0;
  for (uint32_t off : offsets) {
    const OffsetStats& o = line.offsets.at(off);
    for (const auto& [ip, ic] : o.instructions) {
      uint64_t n = ic.count;
      total += n;
      CodeLocation c = env.code(line.pid, ip);
      auto key = std::make_tuple(c.function, c.file, c.line);
      auto it = by_line.find(key);
      if (it == by_line.end()) {
        std::string role = absl::StrCat(is_write(ic.kind) ? "writes" : "reads", " offset ", off, " (",
                                        env.data_name(line.pid, line.address + off), ")");
        it = by_line.emplace(key, to_source_location(c, std::move(role), 0, ip)).first;
      }
      it->second.share += n;
    }
  }
  (void)tids;
  std::vector<SourceLocation> out;
  for (auto& [k, s] : by_line) {
    s.share = total ? s.share / total : 0;
    out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.share > b.share; });
  // In a Python program the instructions are the interpreter's: the script's lines first.
  if (env.python_sites) {
    std::vector<SourceLocation> py = env.python_sites(line.pid, line.address, offsets);
    out.insert(out.begin(), py.begin(), py.end());
  }
  return out;
}

std::string common_name(const CacheLine& line, const MemoryRuleEnv& env) {
  // The variable the line belongs to: the data name of its first sampled offset, cut
  // at the first '[' or '.', e.g. "g_counters".
  if (line.offsets.empty()) return "";
  std::string n = env.data_name(line.pid, line.address + line.offsets.begin()->first);
  auto cut = n.find_first_of("[.+");
  return cut == std::string::npos ? n : n.substr(0, cut);
}

bool overlap(const AccessCounts& a, const AccessCounts& b) {
  return a.first_ns <= b.last_ns && b.first_ns <= a.last_ns;
}

}  // namespace

nlohmann::json cache_line_json(const CacheLine& line, const MemoryRuleEnv& env) {
  nlohmann::json offsets = nlohmann::json::array();
  std::set<uint32_t> processes;  // of the threads that touched it (several for shared memory)
  for (const auto& [off, o] : line.offsets) {
    nlohmann::json threads = nlohmann::json::array();
    for (const auto& [tid, c] : o.threads) {
      const ThreadRow* row = env.threads ? env.threads->find(tid) : nullptr;
      processes.insert(row ? row->pid : line.pid);
      threads.push_back({{"tid", tid},
                         {"comm", env.comm ? env.comm(tid) : ""},
                         {"reads", c.reads},
                         {"writes", c.writes},
                         {"rmws", c.rmws + c.locked + c.cas},
                         {"locked", c.locked + c.cas},
                         {"cas", c.cas},
                         {"hitm", c.hitm}});
    }
    nlohmann::json insns = nlohmann::json::array();
    for (const auto& [ip, ic] : o.instructions) {
      CodeLocation c = env.code(line.pid, ip);
      insns.push_back(place_json(c, {{"address", hex(ip)}, {"kind", access_kind_name(ic.kind)}, {"count", ic.count}}));
    }
    offsets.push_back({{"offset", off},
                       {"size", o.size},
                       {"member", env.data_name(line.pid, line.address + off)},
                       {"threads", threads},
                       {"instructions", insns}});
  }
  return {{"address", hex(line.address)},
          {"name", common_name(line, env)},
          {"region", env.region ? env.region(line.pid, line.address) : ""},
          {"processes", processes},
          {"samples", line.total.samples()},
          {"hitm", line.total.hitm},
          {"offsets", offsets}};
}

namespace {

// A line that threads falsely share (disjoint bytes, one writing, at the same time):
// which threads, their samples on it, and the instructions that stored there.
struct FalseSharingCandidate {
  const CacheLine* line = nullptr;
  std::string var, line_desc;
  std::set<uint32_t> involved;
  std::map<uint32_t, uint64_t> line_by_tid;
  uint64_t on_line = 0, stores = 0, all = 0;
  // The store sampled most on the line (the lowest address of a tie): the code the line
  // belongs to.
  uint64_t main_writer = 0;
  double share() const { return all ? static_cast<double>(on_line) / all : 0; }
};

Finding false_sharing_finding(const FalseSharingCandidate& c, double group_share, size_t group_lines,
                              const MemoryRuleEnv& env);

}  // namespace

std::vector<Finding> cacheline_findings(const CacheLineTable& table, const MemoryRuleEnv& env) {
  std::vector<Finding> out;
  std::vector<FalseSharingCandidate> candidates;
  for (const CacheLine* lp : table.by_samples()) {
    const CacheLine& line = *lp;
    if (line.total.samples() < th::kMemoryMinLineSamples) continue;
    const std::string var = common_name(line, env);
    const std::string line_desc = absl::StrCat("line ", hex(line.address), var.empty() ? "" : absl::StrCat(" (", var, ")"));

    // ---- one word under locked read-modify-writes: hot-atomic or cas-retry-storm
    std::set<uint32_t> atomic_tids;
    for (const auto& [off, o] : line.offsets) {
      if (env.lock_words.count({line.pid, line.address + off})) continue;
      std::map<uint32_t, uint64_t> word_by_tid;
      uint64_t locked = 0, cas = 0;
      for (const auto& [tid, c] : o.threads) {
        if (c.locked + c.cas < th::kHotAtomicMinThreadSamples) continue;
        word_by_tid[tid] = c.samples();
        locked += c.locked;
        cas += c.cas;
      }
      if (static_cast<int>(word_by_tid.size()) < th::kHotAtomicMinThreads) continue;
      bool in_user_code = false;
      for (const auto& [ip, ic] : o.instructions) {
        if (!is_locked(ic.kind)) continue;
        const CodeLocation& c = env.code(line.pid, ip);
        if (!c.in_system_library && !is_lock_library_code(c)) in_user_code = true;
      }
      // A lock's own word (glibc's, absl::Mutex's CAS, an inlined Rust or TBB lock):
      // the lock rules' business, never a lock-free loop of the program's.
      if (!in_user_code) continue;
      uint64_t word = 0, all = 0;
      for (const auto& [tid, n] : word_by_tid) {
        word += n;
        all += samples_of(env, tid);
      }
      const double share = all ? static_cast<double>(word) / all : 0;
      const double cas_share = static_cast<double>(cas) / (locked + cas);
      if (share < th::kHotAtomicMinSampleShare) continue;
      const bool storm = cas_share >= th::kCasStormMinCasShare;
      for (const auto& [tid, n] : word_by_tid) atomic_tids.insert(tid);
      const std::string member = env.data_name(line.pid, line.address + off);
      Finding f = new_finding(storm ? "cas-retry-storm" : "hot-atomic");
      f.subject = {SubjectKind::kWord, line.pid, line.address + off, member};
      f.cost_thread_s = cost_of(env, word_by_tid);
      f.cost_share = env.cost_share(f.cost_thread_s);
      f.confidence = confidence_of(word);
      if (storm) {
        f.title = absl::StrCat(word_by_tid.size(), " threads retry compare-exchange on ", member);
        f.explanation = absl::StrCat(
            word_by_tid.size(), " threads ran locked compare-exchange on the same word ", member, " (", hex(line.address + off),
            "): ", cas, " of its ", word, " samples were CAS instructions, and the word took ", pct(share),
            " of those threads' samples. Every failed CAS moves the cache line to another core and starts over, "
            "so adding threads adds retries, not throughput.");
        f.remedy.text =
            "Give each thread its own structure (per-thread stacks or free lists, merged or stolen from only when "
            "empty) so compare-exchanges rarely meet; under this much contention a plain mutex may beat the "
            "lock-free loop, because waiting threads sleep instead of retrying.";
        f.remedy.before =
            "std::atomic<Node*> head;\nvoid push(Node* n) {\n  n->next = head.load();\n"
            "  while (!head.compare_exchange_weak(n->next, n)) {}\n}";
        f.remedy.after =
            "struct alignas(64) Shard { std::atomic<Node*> head; };\nShard shards[kThreads];\n"
            "void push(Node* n) {  // each thread pushes to its own shard\n  auto& h = shards[thread_index()].head;\n"
            "  n->next = h.load(std::memory_order_relaxed);\n  while (!h.compare_exchange_weak(n->next, n)) {}\n}";
      } else {
        f.title = absl::StrCat(word_by_tid.size(), " threads hammer one atomic: ", member);
        f.explanation = absl::StrCat(
            word_by_tid.size(), " threads ran locked read-modify-writes on the same word ", member, " (",
            hex(line.address + off), "): ", locked + cas, " locked accesses among ", word,
            " samples on it, ", pct(share),
            " of those threads' samples. Each one must own the cache line exclusively, so the threads take turns "
            "on it.");
        f.remedy.text =
            "Give each thread its own counter cell on its own cache line (alignas(64)) and sum the cells when the "
            "total is read; reads become rarer and slower, updates stay on the core.";
        f.remedy.before = "std::atomic<int64_t> g_requests;\nvoid on_request() { g_requests.fetch_add(1); }";
        f.remedy.after =
            "struct alignas(64) Cell { std::atomic<int64_t> n; };\nCell g_requests[kMaxThreads];\n"
            "void on_request() { g_requests[thread_index()].n.fetch_add(1, std::memory_order_relaxed); }\n"
            "int64_t total() { int64_t s = 0; for (auto& c : g_requests) s += c.n.load(); return s; }";
      }
      std::set<uint32_t> tids;
      for (const auto& [tid, n] : word_by_tid) tids.insert(tid);
      f.locations = locations_of(line, {off}, tids, env);
      f.evidence["cache_line"] = cache_line_json(line, env);
      f.evidence["word"] = {{"address", hex(line.address + off)}, {"member", member}, {"threads", word_by_tid.size()},
                            {"samples", word}, {"locked", locked}, {"cas", cas}, {"share", share}};
      out.push_back(std::move(f));
    }

    // ---- false sharing: threads on disjoint bytes of the line, at least one writing
    auto fp = footprints(line);
    std::vector<uint32_t> part;
    for (const auto& [tid, c] : line.threads)
      if (c.samples() >= th::kFalseSharingMinThreadSamples && !atomic_tids.count(tid)) part.push_back(tid);
    std::set<uint32_t> involved;
    for (size_t i = 0; i < part.size(); ++i)
      for (size_t j = i + 1; j < part.size(); ++j) {
        const auto& a = fp[part[i]];
        const auto& b = fp[part[j]];
        if (!(a.written | b.written)) continue;
        if ((a.written & b.accessed) || (b.written & a.accessed)) continue;  // true sharing between them
        if (!overlap(line.threads.at(part[i]), line.threads.at(part[j]))) continue;
        involved.insert(part[i]);
        involved.insert(part[j]);
      }
    if (involved.size() < 2) continue;
    FalseSharingCandidate c{.line = lp, .var = var, .line_desc = line_desc, .involved = involved};
    for (uint32_t tid : involved) {
      const AccessCounts& a = line.threads.at(tid);
      c.line_by_tid[tid] = a.samples();
      c.on_line += a.samples();
      c.stores += a.stores();
      c.all += samples_of(env, tid);
    }
    std::map<uint64_t, uint64_t> writers;  // storing instruction -> its samples on the line
    for (const auto& [off, o] : line.offsets)
      for (const auto& [ip, ic] : o.instructions)
        if (ic.kind != AccessKind::kRead) writers[ip] += ic.count;
    for (uint64_t most = 0; const auto& [ip, n] : writers)
      if (n > most) c.main_writer = ip, most = n;
    candidates.push_back(std::move(c));
  }
  // The lines one piece of code falsely shares (the same instructions store to them: the
  // per-thread rows of one allocation, whose every boundary is a shared line) cost
  // together: a line whose own share is under the threshold counts when the group's is
  // not (histogram at -O0: each row-boundary line ~8-12% of its two threads' samples,
  // the rows' shared lines together most of their row updates). A line's code is its
  // main store, the one sampled most on it: not the exact set of stores, which differs
  // with what the sampler happened to catch (the histogram's `mov %rdx,(%rax)` after the
  // load is sampled on some of its lines, not on others), and not any store in common,
  // which would chain unrelated code through a memcpy that wrote a little of each.
  std::map<uint64_t, std::pair<uint64_t, std::set<uint32_t>>> groups;  // main store -> samples, threads
  std::map<uint64_t, size_t> group_lines;
  for (const auto& c : candidates) {
    auto& g = groups[c.main_writer];
    g.first += c.on_line;
    g.second.insert(c.involved.begin(), c.involved.end());
    ++group_lines[c.main_writer];
  }
  for (const auto& c : candidates) {
    const auto& [on_lines, threads] = groups.at(c.main_writer);
    uint64_t all = 0;
    for (uint32_t tid : threads) all += samples_of(env, tid);
    const double group_share = all ? static_cast<double>(on_lines) / all : 0;
    if (std::max(c.share(), group_share) < th::kFalseSharingMinSampleShare) continue;
    out.push_back(false_sharing_finding(c, group_share, group_lines.at(c.main_writer), env));
  }
  return out;
}

namespace {

Finding false_sharing_finding(const FalseSharingCandidate& c, double group_share, size_t group_lines,
                              const MemoryRuleEnv& env) {
  const CacheLine& line = *c.line;
  const std::string& var = c.var;
  const std::string& line_desc = c.line_desc;
  const std::set<uint32_t>& involved = c.involved;
  const std::map<uint32_t, uint64_t>& line_by_tid = c.line_by_tid;
  const uint64_t on_line = c.on_line, stores = c.stores;
  const double share = c.share();
  std::set<uint32_t> offs;
  std::vector<uint32_t> written_offs;
  for (const auto& [off, o] : line.offsets) {
    bool by_involved = false, written = false;
    for (const auto& [tid, c] : o.threads)
      if (involved.count(tid)) {
        by_involved = true;
        written = written || c.stores();
      }
    if (by_involved) offs.insert(off);
    if (written) written_offs.push_back(off);
  }
  Finding f = new_finding("false-sharing");
  f.subject = {SubjectKind::kCacheLine, line.pid, line.address, var.empty() ? line_desc : var};
  f.title = absl::StrCat("False sharing: ", involved.size(), " threads write separate parts of ", line_desc);
  f.cost_thread_s = cost_of(env, line_by_tid);
  f.cost_share = env.cost_share(f.cost_thread_s);
  f.confidence = confidence_of(on_line);
  std::vector<std::string> per_thread;
  for (uint32_t tid : involved) {
    std::vector<std::string> mine;
    for (const auto& [off, o] : line.offsets)
      if (o.threads.count(tid) && o.threads.at(tid).stores()) mine.push_back(env.data_name(line.pid, line.address + off));
    if (!mine.empty()) per_thread.push_back(absl::StrCat("thread ", tid, ": ", absl::StrJoin(mine, ", ")));
  }
  f.explanation = absl::StrCat(
      involved.size(), " threads wrote offsets ", join_numbers(written_offs), " of ", line_desc, " (",
      absl::StrJoin(per_thread, "; "), "); no two of them touch the same bytes, yet ", pct(share),
      " of their samples were accesses to this line (", pct(on_line ? static_cast<double>(stores) / on_line : 0),
      " of those stores). Every store takes the whole 64-byte line away from the other cores, so the threads "
      "wait for each other's cache misses although they share no data.",
      line.total.hitm ? absl::StrCat(" The PMU saw ", line.total.hitm, " HITM accesses on it.") : "",
      group_lines > 1 ? absl::StrCat(" The same instructions falsely share ", group_lines - 1, " other line",
                                     group_lines > 2 ? "s" : "", ": those threads spent ", pct(group_share),
                                     " of their samples on the ", group_lines, " lines together.")
                      : "");
  f.remedy.text =
      "Give each thread's data its own cache line: align the per-thread slots to 64 bytes "
      "(alignas(std::hardware_destructive_interference_size)), or keep the counts thread-local and merge them "
      "once at the end.";
  f.remedy.before = "int64_t counters[kThreads];  // 8 threads' counters in one 64-byte line\n"
                    "void work(int i) { for (...) counters[i]++; }";
  f.remedy.after = "struct alignas(64) Slot { int64_t n; };\nSlot counters[kThreads];  // one line per thread\n"
                   "void work(int i) { for (...) counters[i].n++; }";
  f.locations = locations_of(line, offs, involved, env);
  f.evidence["cache_line"] = cache_line_json(line, env);
  f.evidence["threads"] = involved.size();
  f.evidence["line_sample_share"] = share;
  f.evidence["store_share"] = on_line ? static_cast<double>(stores) / on_line : 0;
  if (group_lines > 1) f.evidence["falsely_shared_lines"] = {{"lines", group_lines}, {"sample_share", group_share}};
  return f;
}

}  // namespace

// evidence.lock: the lock's row of the lock table (the same shape in every finding).
nlohmann::json lock_evidence(const ContendedLock& lock, const MemoryRuleEnv& env) {
  static const ThreadTable kNoThreads;
  const ThreadTable& threads = env.threads ? *env.threads : kNoThreads;
  if (lock.info) return lock_to_json(*lock.info, threads);
  // A lock built without its table row (tests): a row of the same shape from what is known.
  LockInfo row;
  row.pid = lock.pid;
  row.uaddr = lock.uaddr;
  row.data.name = lock.name;
  row.total_wait_s = lock.wait_s;
  return lock_to_json(row, threads);
}

// The lock's call sites first: that is the line to change.
void add_lock_sites(Finding& f, const ContendedLock& lock) {
  for (const auto& site : lock.sites) {
    f.locations.push_back(to_source_location(site, absl::StrCat("takes ", lock.name)));
    if (f.locations.size() >= 2) break;
  }
}

void set_atomic_remedy(Finding& f) {
  f.remedy.text =
      "Replace the mutex and the word with a std::atomic and one fetch_add (or compare_exchange for other "
      "updates); if that word then shows up as a hot atomic, shard it per thread.";
  f.remedy.before = "std::mutex m; int64_t count;\nvoid hit() { std::lock_guard g(m); ++count; }";
  f.remedy.after = "std::atomic<int64_t> count;\nvoid hit() { count.fetch_add(1, std::memory_order_relaxed); }";
}

namespace {

// Why the samples cannot call `lock` read-mostly ("" when they can): the first site in
// a reader function whose section leaves for other code before the unlock where its
// work there is not in the samples, or every section storing to shared memory before its
// unlock (there is no reader: the samples' reads are elsewhere in the functions that
// take the lock, e.g. under other locks when everything is inlined into one function).
// A section's calls into the program's own code are in the samples when the accesses
// of each callee were sampled with that call as their caller (frame pointers,
// frame_callers.h); an indirect call never is. Sites whose code cannot be read do not
// count.
std::string section_work_elsewhere(const ContendedLock& lock, const std::map<uint64_t, SectionExtent>& extents,
                                   const std::set<std::string>& reader_functions,
                                   const std::set<uint64_t>& sampled_calls, const MemoryRuleEnv& env) {
  std::set<uint64_t> seen;
  size_t walked = 0, writing = 0;
  std::string writer;
  auto callees_sampled = [&](const SectionExtent& e) {
    return e.unlocked && !e.indirect_call && !e.program_calls.empty() &&
           std::all_of(e.program_calls.begin(), e.program_calls.end(),
                       [&](uint64_t r) { return sampled_calls.count(r) > 0; });
  };
  for (uint64_t pc : lock.site_pcs) {
    if (!seen.insert(pc).second) continue;
    const auto it = extents.find(pc);
    if (it == extents.end() || !it->second.decoded) continue;
    const SectionExtent& e = it->second;
    const CodeLocation c = env.code(lock.pid, pc - 1);
    const std::string& fn = c.inline_chain.empty() ? c.function : c.inline_chain.back();
    ++walked;
    if ((e.writes_shared || !e.callee_writer.empty()) && writing++ == 0)
      writer = e.writes_shared ? c.function : absl::StrCat(c.function, ", in ", e.callee_writer);
    if (reader_functions.count(fn) && !e.self_contained && !callees_sampled(e))
      return absl::StrCat("the critical section in ", fn, " ", e.reason);
  }
  if (walked > 0 && writing == walked)
    return absl::StrCat("every critical section stores to shared memory before the unlock (", writer, ")");
  return "";
}

// Why a lock's critical sections do more than one update of one word although the
// samples only caught accesses to one (lock-for-single-word's claim is that one atomic
// instruction could replace the section). Samples only see instructions with a data
// address: a section's compute in registers (parking_lot's s01 digest loop) or its work
// in callees that were never sampled leaves no trace in them, while the section's code
// shows it: a loop on the path from the lock call to the unlock, an indirect call, or a
// call into the program's own code whose callee has no sampled access. Sites whose walk
// did not reach the unlock say nothing.
std::string section_more_than_one_update(const ContendedLock& lock, const std::map<uint64_t, SectionExtent>& extents,
                                         const std::set<uint64_t>& sampled_calls, const MemoryRuleEnv& env) {
  for (uint64_t pc : lock.site_pcs) {
    const auto it = extents.find(pc);
    if (it == extents.end() || !it->second.decoded || !it->second.unlocked) continue;
    const SectionExtent& e = it->second;
    const std::string fn = env.code(lock.pid, pc - 1).function;
    if (e.loops > 0) return absl::StrCat("the critical section in ", fn, " loops before the unlock");
    if (e.indirect_call) return absl::StrCat("the critical section in ", fn, " makes an indirect call");
    for (uint64_t r : e.program_calls)
      if (!sampled_calls.count(r))
        return absl::StrCat("the critical section in ", fn, " calls the program's code at ", hex(r - 1),
                            ", where no access was sampled");
  }
  return "";
}

}  // namespace

namespace {

bool lock_own_access(const ContendedLock& lock, const MemoryAccess& a, const CodeLocation& c) {
  // A pthread_mutex_t is 40 bytes, which only glibc's code touches. Rust's and
  // parking_lot's locks are one word with the data they guard right after it
  // (std's Mutex<Config>: the futex word, the poison flag, then the Config at +8): a
  // plain load or store there by the program's own code (with debug info to say so) is
  // the guarded data, while the lock library's inlined code and atomic instructions on
  // those bytes are the lock's.
  if (a.data_addr < lock.uaddr || a.data_addr >= lock.uaddr + 40) return false;
  return is_locked(a.kind) || !c.has_debug_info || is_lock_library_code(c);
}

}  // namespace

std::vector<Finding> lock_access_findings(const std::vector<MemoryAccess>& accesses,
                                          const std::vector<ContendedLock>& locks, const MemoryRuleEnv& env) {
  std::vector<Finding> out;
  auto key_of = [](const CodeLocation& c) { return c.inline_chain.empty() ? c.function : c.inline_chain.back(); };
  for (const auto& lock : locks) {
    if (!lock.direct) continue;  // a lock taken inside a library call: its critical section is not the user's
    std::set<std::string> fns;
    for (const auto& s : lock.sites)
      if (!s.in_system_library) fns.insert(key_of(s));
    if (fns.empty()) continue;
    // Each site's critical section, walked once; the calls they make to the program's
    // own code before the unlock (return addresses).
    std::map<uint64_t, SectionExtent> extents;
    std::set<uint64_t> section_calls, sampled_calls;
    if (env.section_extent)
      for (uint64_t pc : lock.site_pcs)
        if (!extents.count(pc)) {
          const SectionExtent& e = extents.emplace(pc, env.section_extent(lock.pid, pc, lock.uaddr)).first->second;
          spdlog::debug("critical section of {} from {}: {} (writes shared: {}; a callee that stores: {})", lock.name,
                        hex(pc), e.decoded ? e.reason : "not decoded", e.writes_shared,
                        e.callee_writer.empty() ? "none" : e.callee_writer);
          if (e.decoded && e.unlocked) section_calls.insert(e.program_calls.begin(), e.program_calls.end());
        }
    uint64_t n = 0, reads = 0, in_callees = 0;
    std::map<uint64_t, uint64_t> words, written;  // word address -> accesses / stores
    std::map<std::tuple<std::string, std::string, int>, SourceLocation> locs;
    std::map<std::string, std::pair<uint64_t, uint64_t>> by_function;  // reads, writes
    for (const auto& a : accesses) {
      if (a.pid != lock.pid) continue;
      CodeLocation c = env.code(a.pid, a.insn_addr);
      if (c.in_system_library) continue;
      if (lock_own_access(lock, a, c)) continue;  // the mutex itself
      std::string holder = key_of(c);  // the function holding the lock the access counts for
      uint64_t via_call = 0;
      if (!fns.count(holder)) {
        // A function called from inside a section: its accesses are the section's.
        for (uint64_t r : a.callers)
          if (r && section_calls.count(r)) {
            via_call = r;
            break;
          }
        if (!via_call) continue;
        holder = key_of(env.code(a.pid, via_call - 1));
        if (!fns.count(holder)) continue;
      }
      if (env.shared_data && !env.shared_data(a.pid, a.data_addr)) continue;
      if (via_call) {
        sampled_calls.insert(via_call);
        ++in_callees;
      }
      ++n;
      const uint64_t word = a.data_addr & ~uint64_t{7};
      ++words[word];
      if (is_write(a.kind)) ++written[word];
      else ++reads;
      auto& [fn_reads, fn_writes] = by_function[holder];
      ++(is_write(a.kind) ? fn_writes : fn_reads);
      auto k = std::make_tuple(c.function, c.file, c.line);
      auto it = locs.find(k);
      if (it == locs.end()) {
        std::string role = absl::StrCat(is_write(a.kind) ? "writes " : "reads ", env.data_name(a.pid, a.data_addr),
                                        " under ", lock.name);
        it = locs.emplace(k, to_source_location(c, std::move(role), 0, a.insn_addr)).first;
      }
      it->second.share += 1;
    }
    if (n < th::kLockAccessMinSamples) {
      spdlog::debug("critical sections of {}: {} sampled accesses, too few to judge", lock.name, n);
      continue;
    }
    spdlog::debug("critical sections of {}: {} sampled accesses, {} reads, {} words, {} written", lock.name, n,
                  reads, words.size(), written.size());
    std::vector<SourceLocation> locations;
    for (auto& [k, s] : locs) {
      s.share /= n;
      locations.push_back(s);
    }
    std::sort(locations.begin(), locations.end(), [](const auto& a, const auto& b) { return a.share > b.share; });
    const double read_share = static_cast<double>(reads) / n;
    std::set<std::string> reader_functions;  // the functions whose sampled accesses are all reads
    for (const auto& [fn, rw] : by_function)
      if (rw.second == 0) reader_functions.insert(fn);
    Finding f;
    f.subject = lock_subject(lock.pid, lock.uaddr, lock.name);
    f.cost_thread_s = lock.wait_s;
    f.cost_share = env.cost_share(lock.wait_s);
    f.confidence = confidence_of(n * 10);
    // Where the lock is taken first (that is the line to change), then the accesses
    // inside the critical section that show what it protects.
    add_lock_sites(f, lock);
    f.locations.insert(f.locations.end(), locations.begin(), locations.end());
    f.evidence["lock"] = lock_evidence(lock, env);
    f.evidence["critical_section"] = {{"samples", n}, {"reads", reads}, {"writes", n - reads},
                                      {"words", words.size()}, {"words_written", written.size()},
                                      {"functions", std::vector<std::string>(fns.begin(), fns.end())},
                                      {"samples_in_callees", in_callees}};
    // Read-mostly needs more evidence than a handful of samples, and only for a lock the
    // program takes itself around shared data: not a queue's mutex (its condition
    // variable waits are in the same functions: pushes and pops write), not the
    // allocator's arena lock taken inside free().
    // ...and only when the samples can see the readers' whole critical section: a
    // section that calls into the program's own code does its work where the samples
    // are not attributed to the lock (one store per acquisition in the callee would
    // make it a writer).
    std::string hidden_work;
    if (read_share >= th::kReadMostlyMinReadShare && lock.shared_share >= th::kMutexStackShare)
      // The remedy is in place: the readers take a reader-writer lock shared (Rust's
      // RwLock::read, shared_mutex::lock_shared) and wait only while a writer holds it
      // or waits for it, not for each other.
      hidden_work = absl::StrCat("its waiters take it shared (", pct(lock.shared_share),
                                 " of the sampled waits): readers wait for a writer, not for each other");
    else if (read_share >= th::kReadMostlyMinReadShare && reader_functions.empty())
      // "Readers" needs a function that only reads: where every function holding the lock
      // was seen storing in its section, the high read share is the code's load-to-store
      // ratio (-O0 code reloads its operands; a deque pop reads several fields to write
      // one), not readers (work_stealing at -O0: pop and push both wrote, 95% reads).
      hidden_work = "every function that holds it stores to shared data in its critical section: there is no reader";
    else if (read_share >= th::kReadMostlyMinReadShare && env.section_extent)
      hidden_work = section_work_elsewhere(lock, extents, reader_functions, sampled_calls, env);
    if (!hidden_work.empty()) {
      f.evidence["critical_section"]["not_judged"] = hidden_work;
      spdlog::debug("critical sections of {}: not judged read-mostly: {}", lock.name, hidden_work);
    }
    if (read_share >= th::kReadMostlyMinReadShare && n >= th::kReadMostlyMinSamples && lock.direct &&
        !lock.with_condvar && hidden_work.empty()) {
      set_kind(f, "read-mostly-lock");
      f.title = absl::StrCat("Readers serialise on ", lock.name, " although they only read");
      f.explanation = absl::StrCat(
          "Threads waited ", absl::StrFormat("%.2f", lock.wait_s), " s (", pct(lock.share),
          " of their time) for ", lock.name, ", and ", pct(read_share), " of the ", n,
          " sampled accesses to shared data in the functions that hold it (", absl::StrJoin(fns, ", "), ")",
          in_callees ? absl::StrCat(" and in the functions they call while holding it (", in_callees, ")") : "",
          " were reads of ", words.size(), " words: readers exclude each other for nothing.");
      f.remedy.text =
          "Let readers share: a std::shared_mutex (shared_lock for readers) if writes must stay in place, or "
          "better publish an immutable snapshot through an atomic pointer so readers take no lock at all and the "
          "rare writer swaps in a new copy.";
      f.remedy.before = "std::mutex m; Config cfg;\nint read() { std::lock_guard g(m); return use(cfg); }";
      f.remedy.after =
          "std::atomic<std::shared_ptr<const Config>> cfg;\nint read() { return use(*cfg.load()); }\n"
          "void reload(Config c) { cfg.store(std::make_shared<const Config>(std::move(c))); }";
    } else if (written.size() == 1 &&
               static_cast<double>(words.at(written.begin()->first)) / n >= th::kSingleWordMinShare) {
      if (const std::string more = section_more_than_one_update(lock, extents, sampled_calls, env); !more.empty()) {
        // The lock's own finding (lock-contention) stays; this rule has no claim.
        spdlog::debug("critical sections of {}: not a single word: {}", lock.name, more);
        continue;
      }
      const uint64_t w = written.begin()->first;
      const std::string member = env.data_name(lock.pid, w);
      set_kind(f, "lock-for-single-word");
      f.title = absl::StrCat(lock.name, " guards a single word: ", member);
      f.explanation = absl::StrCat(
          "Threads waited ", absl::StrFormat("%.2f", lock.wait_s), " s (", pct(lock.share), " of their time) for ",
          lock.name, ", yet every sampled store in the functions that hold it (", absl::StrJoin(fns, ", "),
          ") went to one word, ", member, " (", words.at(w), " of ", n,
          " sampled accesses): the critical section is one read-modify-write, which one atomic instruction does "
          "without parking threads.");
      set_atomic_remedy(f);
    } else {
      continue;
    }
    if (env.add_hold) env.add_hold(f, lock.pid, lock.uaddr);
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<Finding> static_single_word_finding(Symbolizer& sym, const ContendedLock& lock,
                                                  const MemoryRuleEnv& env) {
  std::set<uint64_t> words, written;
  std::vector<CriticalSectionAccess> shared;
  for (uint64_t pc : lock.site_pcs) {
    CriticalSection cs = decode_critical_section(sym, pc);
    // Only a section decoded up to the unlock call, with every access's address known.
    if (!cs.decoded || (cs.stop != "call" && cs.stop != "tail-call") || cs.dynamic_accesses > 0) {
      spdlog::debug("critical section of {} at {}: not used (stop={}, dynamic accesses={})", lock.name, hex(pc),
                    cs.stop, cs.dynamic_accesses);
      return std::nullopt;
    }
    for (const auto& a : cs.accesses) {
      if (a.data_addr >= lock.uaddr && a.data_addr < lock.uaddr + 40) continue;  // the mutex itself
      if (env.shared_data && !env.shared_data(lock.pid, a.data_addr)) continue;
      shared.push_back(a);
      words.insert(a.data_addr & ~uint64_t{7});
      if (a.write) written.insert(a.data_addr & ~uint64_t{7});
    }
  }
  if (words.size() != 1 || written.size() != 1 || shared.size() > th::kStaticCriticalSectionMaxAccesses) {
    spdlog::debug("critical section of {}: {} words, {} written, {} accesses: not a single word", lock.name,
                  words.size(), written.size(), shared.size());
    return std::nullopt;
  }
  const uint64_t w = *words.begin();
  const std::string member = env.data_name(lock.pid, w);
  Finding f = new_finding("lock-for-single-word");
  f.subject = lock_subject(lock.pid, lock.uaddr, lock.name);
  f.cost_thread_s = lock.wait_s;
  f.cost_share = env.cost_share(lock.wait_s);
  f.confidence = "medium";
  f.title = absl::StrCat(lock.name, " guards a single word: ", member);
  f.explanation = absl::StrCat(
      "Threads waited ", absl::StrFormat("%.2f", lock.wait_s), " s (", pct(lock.share), " of their time) for ",
      lock.name, ". Its critical section is too short for timer samples to land in, so ccprof read its code: "
      "between the lock call and the unlock call there ", shared.size() == 1 ? "is one access" : "are only accesses",
      " to shared data, all to one word, ", member,
      ": one read-modify-write that a single atomic instruction does without parking threads.");
  set_atomic_remedy(f);
  add_lock_sites(f, lock);
  nlohmann::json insns = nlohmann::json::array();
  for (const auto& a : shared) {
    CodeLocation c = env.code(lock.pid, a.insn_addr);
    SourceLocation s;
    s.function = c.function;
    s.file = c.file;
    s.line = c.line;
    s.address = a.insn_addr;
    s.module = c.module;
    s.role = absl::StrCat(a.write ? (a.read ? "updates " : "writes ") : "reads ", member, " under ", lock.name);
    f.locations.push_back(s);
    insns.push_back({{"address", hex(a.insn_addr)}, {"data", hex(a.data_addr)}, {"size", a.size},
                     {"read", a.read}, {"write", a.write}, {"function", c.function}, {"line", c.line}});
  }
  f.evidence["lock"] = lock_evidence(lock, env);
  if (env.add_hold) env.add_hold(f, lock.pid, lock.uaddr);
  f.evidence["critical_section"] = {{"source", "static decode of the code between lock and unlock"},
                                    {"accesses", insns}, {"words", 1}, {"words_written", 1}};
  return f;
}

MemoryRuleEnv memory_rule_env(const Index& ctx) {
  const Recording& rec = ctx.rec;
  MemoryRuleEnv env;
  env.total_thread_s = ctx.total_thread_seconds();
  env.period_s = ctx.memory.period_s;
  env.thread_samples = ctx.memory.thread_samples;
  env.threads = &ctx.threads;
  env.add_hold = [&ctx](Finding& f, uint32_t pid, uint64_t lock) { add_hold_evidence(f, ctx, pid, lock); };
  for (const auto& t : ctx.threads.rows()) env.thread_lifetime_s[t.tid] = t.lifetime_s;
  for (const auto& a : rec.futex_addrs) env.lock_words.insert({a.pid, a.uaddr});
  for (const auto& l : ctx.locks) env.lock_words.insert({l.pid, l.uaddr});
  env.code = [&ctx](uint32_t pid, uint64_t ip) { return ctx.code(pid, ip); };
  // Named once per address (a DWARF walk each): the rules and the tables ask per line.
  auto names = std::make_shared<std::map<std::pair<uint32_t, uint64_t>, std::string>>();
  env.data_name = [&ctx, names](uint32_t pid, uint64_t addr) {
    auto [it, fresh] = names->try_emplace({pid, addr});
    if (!fresh) return it->second;
    Symbolizer* s = ctx.symbolizer(pid);
    if (!s) return it->second = hex(addr);
    // A global's own name first; heap data by the type it was reached through.
    if (std::string member = data_member_name(*s, addr); !member.empty()) return it->second = member;
    if (auto t = ctx.memory.typed_names.find({pid, addr}); t != ctx.memory.typed_names.end())
      return it->second = t->second;
    return it->second = describe_data(*s, addr);
  };
  env.region = [&ctx](uint32_t pid, uint64_t addr) { return ctx.data(pid, addr).region; };
  env.shared_data = [&ctx](uint32_t pid, uint64_t addr) {
    Symbolizer* s = ctx.symbolizer(pid);
    if (!s) return true;
    const MemoryMap* m = s->map_of(addr);
    if (m && m->perms.find('w') == std::string::npos) return false;  // constants, RELRO GOT
    if (m && is_system_object(m->path)) return false;                // libc's own data
    return true;
  };
  env.comm = [&ctx](uint32_t tid) { return ctx.comm(tid); };
  if (ctx.rec.has_python && !ctx.rec.python.reads.empty()) {
    auto reads = std::make_shared<const PythonReads>(ctx.rec.python);
    env.python_sites = [&ctx, reads](uint32_t pid, uint64_t line, const std::set<uint32_t>& offsets) {
      return python_access_sites(ctx, *reads, pid, line, offsets);
    };
  }
  env.section_extent = [&ctx](uint32_t pid, uint64_t pc, uint64_t lock_word) {
    Symbolizer* s = ctx.symbolizer(pid);
    return s ? walk_critical_section(*s, pc, 2000, lock_word) : SectionExtent{};
  };
  return env;
}

namespace {

// false-sharing (3), hot-atomic (12), cas-retry-storm (11): the cache-line table.
std::vector<Finding> cache_line_rules(const Index& ctx) {
  return cacheline_findings(ctx.memory.lines, memory_rule_env(ctx));
}

// read-mostly-lock (2), lock-for-single-word (4): what contended locks' critical
// sections access.
std::vector<Finding> critical_section_rules(const Index& ctx) {
  const MemoryRuleEnv env = memory_rule_env(ctx);
  const std::vector<ContendedLock> locks = contended_locks(ctx.locks, ctx.total_thread_seconds());
  std::vector<Finding> out = lock_access_findings(ctx.memory.accesses, locks, env);
  // Tiny critical sections get few timer samples: where the samples could not say
  // what a contended lock protects, read the critical section's code instead.
  for (const auto& lock : locks) {
    const Subject subject = lock_subject(lock.pid, lock.uaddr, lock.name);
    if (std::any_of(out.begin(), out.end(), [&](const Finding& f) { return f.subject == subject; })) continue;
    Symbolizer* sym = ctx.symbolizer(lock.pid);
    if (!sym || lock.site_pcs.empty()) continue;
    if (auto f = static_single_word_finding(*sym, lock, env)) out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Rule>> memory_rule_family() {
  return rule_family(make_rule({"false-sharing", "hot-atomic", "cas-retry-storm"}, &cache_line_rules),
                     make_rule({"read-mostly-lock", "lock-for-single-word"}, &critical_section_rules));
}

}  // namespace ccprof::profiler
