#include "profiler/tables.h"

#include "profiler/wait_chains.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "profiler/holder_stacks.h"
#include "profiler/memory_rules.h"
#include "profiler/python_reads.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

using nlohmann::json;

json locks_table(const Index& index) {
  json rows = json::array();
  for (const auto& l : index.locks) {
    rows.push_back(lock_to_json(l, index.threads));
    if (const LockHold* h = index.lock_hold(l.pid, l.uaddr)) rows.back()["hold"] = hold_to_json(*h);
  }
  return rows;
}

json threads_table(const Index& index) {
  std::map<uint32_t, double> lock_wait;
  for (const auto& l : index.locks)
    if (l.type != "condvar")
      for (const auto& [tid, w] : l.waiters) lock_wait[tid] += w.wait_s;
  json rows = json::array();
  for (const auto& t : index.threads.rows()) {
    json row = {{"tid", t.tid},
                {"pid", t.pid},
                {"comm", t.comm},
                {"lifetime_s", t.lifetime_s},
                {"lock_wait_s", lock_wait.count(t.tid) ? lock_wait[t.tid] : 0.0},
                {"on_cpu_s", nullptr},
                {"io_s", nullptr},
                {"runnable_s", nullptr}};
    if (const SchedThread* s = t.sched) {
      row["on_cpu_s"] = s->on_cpu_ns / 1e9;
      row["io_s"] = s->blocking_syscall_ns() / 1e9;
      row["runnable_s"] = s->runq_ns / 1e9;
      row["voluntary_switches"] = s->voluntary_switches;
      row["involuntary_switches"] = s->involuntary_switches;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// Waiting stacks for the flame graphs, aggregated by identical frame lists.
json stacks_table(const Index& index) {
  // Summed per (lock, unwound stack) first: copies of one stack share its frames, so the
  // names are built once per distinct stack, not once per copy (~90k copies in a minute
  // of MariaDB, a few hundred stacks).
  std::vector<double> dur(index.rec.stacks.size(), 0.0);
  for (const auto& w : index.rec.futex_waits)
    if (w.stack >= 0 && static_cast<size_t>(w.stack) < dur.size()) dur[w.stack] = w.duration_ns / 1e9;
  std::map<std::pair<uint64_t, const std::vector<Frame>*>, std::pair<double, uint64_t>> by_stack;
  for (const auto& l : index.locks)
    for (int si : l.stack_indices) {
      const std::vector<Frame>& frames = index.frames(si);
      if (frames.empty()) continue;
      auto& a = by_stack[{l.uaddr, &frames}];
      a.first += si >= 0 && static_cast<size_t>(si) < dur.size() ? dur[si] : 0.0;
      a.second++;
    }
  std::map<std::pair<std::string, std::vector<std::string>>, std::pair<double, uint64_t>> agg;
  for (const auto& [key, v] : by_stack) {
    auto names = frame_names_root_first(*key.second);
    if (names.empty()) continue;
    auto& a = agg[{hex_address(key.first), std::move(names)}];
    a.first += v.first;
    a.second += v.second;
  }
  json stacks = json::array();
  for (const auto& [k, v] : agg)
    stacks.push_back({{"lock", k.first}, {"frames", k.second}, {"wait_s", v.first}, {"count", v.second}});
  return stacks;
}

// The waits (at most kTimelineMaxWaits, spread evenly).
void timeline_table(const Index& index, json& tables) {
  const auto& waits = index.rec.futex_waits;
  const size_t max = thresholds::kTimelineMaxWaits;
  size_t step = waits.size() > max ? waits.size() / max + 1 : 1;
  json timeline = json::array();
  for (size_t i = 0; i < waits.size(); i += step) {
    const FutexWait& w = waits[i];
    double start = w.start_ns > index.rec.start_ns ? (w.start_ns - index.rec.start_ns) / 1e9 : 0;
    timeline.push_back({{"tid", w.tid},
                        {"start_s", start},
                        {"duration_s", w.duration_ns / 1e9},
                        {"state", "lock-wait"},
                        {"lock", hex_address(w.uaddr)}});
  }
  tables["timeline"] = std::move(timeline);
  tables["timeline_sampling"] = {{"every_nth_wait", step}, {"waits", waits.size()}};
}

void memory_tables(const Index& index, json& tables) {
  const MemoryIndex& mem = index.memory;
  tables["memory"] = {{"mode", index.rec.memory_sampler.mode},
                      {"samples", mem.samples},
                      {"with_address", mem.with_address},
                      {"address_yield", mem.samples ? static_cast<double>(mem.with_address) / mem.samples : 0},
                      {"private_stack_or_tls", mem.private_stack_or_tls},
                      {"no_address", mem.no_address}};
  // The yield over the samples whose instruction may have touched memory (the others
  // ran an instruction with no memory operand, a branch, a function's first one).
  const uint64_t touching = AddressYield::touching_memory(mem.samples, mem.no_address);
  tables["memory"]["samples_touching_memory"] = touching;
  tables["memory"]["memory_address_yield"] = touching ? static_cast<double>(mem.with_address) / touching : 0.0;
  tables["memory"]["recovered"] = mem.yield.recovered;
  tables["memory"]["sited_at_caller"] = mem.yield.sited_at_caller;
  tables["memory"]["by_module"] = mem.yield.modules_json();
  // Python frames at the samples of CPython 3.11 processes (python_reads.h).
  if (auto py = python_memory_table(index, index.losses); !py.is_null()) tables["memory"]["python"] = std::move(py);
  const MemoryRuleEnv env = memory_rule_env(index);
  json lines = json::array();
  for (const CacheLine* l : mem.lines.by_samples()) {
    if (lines.size() >= thresholds::kReportMaxCacheLines || l->total.samples() < thresholds::kMemoryMinLineSamples) break;
    lines.push_back(cache_line_json(*l, env));
  }
  tables["cache_lines"] = std::move(lines);
}

// RSS over time for the report's memory chart (at most kRssMaxPoints per process).
json rss_table(const Index& index) {
  json rss = json::array();
  const SchedSection* sec = index.sched();
  if (!sec) return rss;
  std::map<uint32_t, std::vector<const RssSample*>> by_pid;
  for (const auto& r : sec->rss) by_pid[r.pid].push_back(&r);
  for (const auto& [pid, v] : by_pid) {
    size_t step = std::max<size_t>(1, v.size() / thresholds::kRssMaxPoints);
    for (size_t i = 0; i < v.size(); i += step)
      rss.push_back({{"pid", pid},
                     {"t_s", v[i]->time_ns > index.rec.start_ns ? (v[i]->time_ns - index.rec.start_ns) / 1e9 : 0.0},
                     {"rss_bytes", v[i]->rss_bytes}});
  }
  return rss;
}

json samples_table(const Index& index) {
  const Recording& rec = index.rec;
  uint64_t unwound = 0;
  for (size_t i = 0; i < rec.stacks.size(); ++i)
    if (!index.frames(static_cast<int>(i)).empty()) ++unwound;
  uint64_t waits_seen = rec.futex.wait_events_seen ? rec.futex.wait_events_seen : rec.futex_waits.size();
  return {{"futex_waits", waits_seen},
          {"futex_wait_events_kept", rec.futex_waits.size()},
          {"stack_copies", rec.stacks.size()},
          {"stacks_unwound", unwound},
          {"memory_samples", rec.memory_samples.size()}};
}

// Last: unwinding and symbolizing for the other tables adds to the losses.
json losses_table(const Index& index) {
  LossCounters losses = index.rec.losses;
  for (const auto& [k, v] : index.losses) losses[k] += v;
  for (const auto& p : index.rec.processes) {
    Symbolizer* s = index.symbolizer(p.pid);
    if (!s) continue;
    if (s->unresolved_code()) losses["symbolize.unresolved_code_addresses"] += s->unresolved_code();
    for (const auto& m : s->modules_without_debug_info()) losses["symbolize.no_debug_info: " + m] += 1;
    for (const auto& m : s->unreadable_modules()) losses["symbolize.module_unreadable: " + m] += 1;
    for (const auto& m : s->refused_modules()) losses["symbolize.module_build_id_mismatch: " + m] += 1;
  }
  return losses;
}

// Per module whose code the profile touched: where its debug info came from, or why
// there was none.
json debug_info_table(const Index& index) {
  json rows = json::array();
  for (const auto& p : index.rec.processes) {
    Symbolizer* s = index.symbolizer(p.pid);
    if (!s) continue;
    for (const auto& m : s->debug_info_sources())
      rows.push_back({{"pid", p.pid},
                      {"module", printable(m.module)},
                      {"source", m.source},
                      {"file", printable(m.file)},
                      {"detail", printable(m.detail)}});
  }
  return rows;
}

}  // namespace

std::vector<std::string> frame_names_root_first(const std::vector<Frame>& frames) {
  std::vector<std::string> names;
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    const auto& chain = it->loc.inline_chain;
    if (chain.size() > 1) {
      for (auto c = chain.rbegin(); c != chain.rend(); ++c) names.push_back(*c);
    } else {
      names.push_back(it->loc.function);
    }
  }
  return names;
}

json build_tables(const Index& index) {
  json t = json::object();
  t["locks"] = locks_table(index);
  t["threads"] = threads_table(index);
  t["stacks"] = stacks_table(index);
  t["holder_stacks"] = holder_stacks_table(index);
  timeline_table(index, t);
  memory_tables(index, t);
  t["rss"] = rss_table(index);
  t["samples"] = samples_table(index);
  t["losses"] = losses_table(index);
  t["wait_chains"] = wait_chains_table(index);
  t["debug_info"] = debug_info_table(index);
  return t;
}

}  // namespace ccprof::profiler
