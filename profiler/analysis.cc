#include "profiler/analysis.h"

#include <algorithm>
#include <set>

#include "profiler/lock_rules.h"
#include "profiler/lock_table.h"
#include "profiler/gil_rules.h"
#include "profiler/lock_rates.h"
#include "profiler/lock_rules.h"
#include "profiler/memory_rules.h"
#include "profiler/queue_rules.h"
#include "profiler/sched_rules.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {

AnalysisContext::AnalysisContext(const Recording& r) : rec(r) {
  for (const auto& t : rec.threads) {
    uint64_t start = std::max(t.start_ns, rec.start_ns);
    uint64_t end = t.end_ns ? std::min(t.end_ns, rec.end_ns) : rec.end_ns;
    double s = end > start ? (end - start) / 1e9 : 0;
    lifetimes_[t.tid] = s;
    total_thread_s_ += s;
  }
}

Symbolizer* AnalysisContext::symbolizer(uint32_t pid) {
  auto it = syms_.find(pid);
  if (it != syms_.end()) return it->second.get();
  const ProcessInfo* p = rec.process(pid);
  if (!p) return nullptr;
  return syms_.emplace(pid, std::make_unique<Symbolizer>(*p)).first->second.get();
}

const std::vector<Frame>& AnalysisContext::frames(int stack_index) {
  auto it = frames_.find(stack_index);
  if (it != frames_.end()) return it->second;
  std::vector<Frame> frames;
  if (stack_index >= 0 && stack_index < static_cast<int>(rec.stacks.size())) {
    const StackCopy& s = rec.stacks[stack_index];
    if (Symbolizer* sym = symbolizer(s.pid)) {
      UnwindResult r = unwind_stack(*sym, s);
      if (r.frames.empty()) {
        losses["unwind.failed"]++;
      } else if (!r.complete) {
        // Stopping at the end of the copied stack after the user's frames is normal;
        // it is a loss only when no user frame was reached.
        bool user = false;
        for (const auto& f : r.frames)
          if (!f.loc.in_system_library && !is_system_source(f.loc.file)) user = true;
        if (!user) losses["unwind.no_user_frame"]++;
      }
      frames = std::move(r.frames);
    } else {
      losses["unwind.unknown_process"]++;
    }
  }
  return frames_.emplace(stack_index, std::move(frames)).first->second;
}

const Frame* AnalysisContext::user_frame(int stack_index) {
  for (const Frame& f : frames(stack_index)) {
    if (f.loc.in_system_library || f.loc.module.empty()) continue;
    if (!f.loc.file.empty() && is_system_source(f.loc.file)) continue;
    return &f;
  }
  return nullptr;
}

double AnalysisContext::thread_lifetime_s(uint32_t tid) const {
  auto it = lifetimes_.find(tid);
  return it == lifetimes_.end() ? 0 : it->second;
}

std::string AnalysisContext::comm(uint32_t tid) const {
  const ThreadInfo* t = rec.thread(tid);
  return t ? t->comm : "";
}

namespace {

// A lock whose waits are explained by a more specific diagnosis (its owner held it
// across I/O; its critical sections only read; it guards one word) gets that finding
// alone: "shard it" would be the wrong advice.
void prefer_specific_lock_findings(std::vector<Finding>& findings) {
  std::set<std::string> explained;
  for (const auto& f : findings) {
    if ((f.kind == "read-mostly-lock" || f.kind == "lock-for-single-word") && f.evidence.contains("lock"))
      explained.insert(f.evidence["lock"].value("address", ""));
    if (f.kind != "lock-held-across-io" || !f.evidence.contains("lock")) continue;
    // Against the waits the events cover (the agent may keep only a sample of them).
    double total = f.evidence.value("event_wait_s", f.evidence["lock"].value("total_wait_s", 0.0));
    double explained_s = f.evidence.value("explained_wait_s", 0.0);
    if (total > 0 && explained_s / total >= 0.5) explained.insert(f.evidence["lock"].value("address", ""));
  }
  std::erase_if(findings, [&](const Finding& f) {
    return f.kind == "lock-contention" && f.evidence.contains("lock") &&
           explained.count(f.evidence["lock"].value("address", ""));
  });
}

}  // namespace

Analysis analyze(const Recording& rec) {
  AnalysisContext ctx(rec);
  Analysis out;
  std::vector<LockInfo> locks = build_lock_table(ctx);
  for (auto& f : lock_rules(ctx, locks)) out.findings.push_back(std::move(f));
  for (auto& f : sched_rules(ctx, locks)) out.findings.push_back(std::move(f));
  std::vector<LockRate> rates = build_lock_rates(ctx);
  for (auto& f : queue_rules(ctx, locks, rates)) out.findings.push_back(std::move(f));
  for (auto& f : gil_rules(ctx, locks)) out.findings.push_back(std::move(f));
  for (auto& f : memory_rules(ctx, contended_locks(locks, ctx.total_thread_seconds()))) out.findings.push_back(std::move(f));
  prefer_specific_lock_findings(out.findings);
  rank_findings(out.findings);

  nlohmann::json lock_rows = nlohmann::json::array();
  for (const auto& l : locks) lock_rows.push_back(lock_to_json(l, ctx));
  out.tables = std::move(ctx.tables);
  out.tables["locks"] = std::move(lock_rows);

  // Threads: lifetime and lock waits from here, other figures from other rule families.
  std::map<uint32_t, double> lock_wait;
  for (const auto& l : locks)
    if (l.type != "condvar")
      for (const auto& [tid, w] : l.waiters) lock_wait[tid] += w.wait_s;
  nlohmann::json threads = nlohmann::json::array();
  for (const auto& t : rec.threads) {
    nlohmann::json row = {{"tid", t.tid},
                          {"pid", t.pid},
                          {"comm", t.comm},
                          {"lifetime_s", ctx.thread_lifetime_s(t.tid)},
                          {"lock_wait_s", lock_wait.count(t.tid) ? lock_wait[t.tid] : 0.0},
                          {"on_cpu_s", nullptr},
                          {"io_s", nullptr},
                          {"runnable_s", nullptr}};
    auto it = ctx.thread_extra.find(t.tid);
    if (it != ctx.thread_extra.end()) row.update(it->second);
    threads.push_back(std::move(row));
  }
  out.tables["threads"] = std::move(threads);

  uint64_t unwound = 0;
  for (size_t i = 0; i < rec.stacks.size(); ++i)
    if (!ctx.frames(static_cast<int>(i)).empty()) ++unwound;
  uint64_t waits_seen = rec.futex_waits.size();
  if (auto it = rec.sections.find("futex"); it != rec.sections.end())
    waits_seen = it->second.value("wait_events_seen", waits_seen);
  out.tables["samples"] = {{"futex_waits", waits_seen},
                           {"futex_wait_events_kept", rec.futex_waits.size()},
                           {"stack_copies", rec.stacks.size()},
                           {"stacks_unwound", unwound},
                           {"memory_samples", rec.memory_samples.size()}};
  LossCounters losses = rec.losses;
  for (const auto& [k, v] : ctx.losses) losses[k] += v;
  for (const auto& p : rec.processes) {
    Symbolizer* s = ctx.symbolizer(p.pid);
    if (!s) continue;
    if (s->unresolved_code()) losses["symbolize.unresolved_code_addresses"] += s->unresolved_code();
    for (const auto& m : s->modules_without_debug_info()) losses["symbolize.no_debug_info: " + m] += 1;
  }
  out.tables["losses"] = losses;
  return out;
}

}  // namespace ccprof::profiler
