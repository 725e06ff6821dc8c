#include "report/export_trace.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "profiler/lock_table.h"
#include "profiler/text.h"

namespace ccprof::report {
namespace {

// Trace Event Format timestamps are microseconds; ours are CLOCK_MONOTONIC ns.
double us_since(uint64_t t_ns, uint64_t origin_ns) {
  return (static_cast<double>(t_ns) - static_cast<double>(origin_ns)) / 1e3;
}

nlohmann::json complete_event(const char* cat, std::string name, uint32_t pid, uint32_t tid, uint64_t from_ns,
                              uint64_t to_ns, uint64_t t0) {
  return {{"ph", "X"}, {"cat", cat}, {"name", std::move(name)}, {"pid", pid}, {"tid", tid},
          {"ts", us_since(from_ns, t0)}, {"dur", (to_ns - from_ns) / 1e3}};
}

// Each thread's runs (model::SchedTimelineSection) on its CPU-state track: "runnable"
// (waiting for a CPU), "running" (on CPU n), and "blocked" between two runs recorded one
// after the other (a gap in their seq is runs not recorded: nothing is drawn there).
// Clipped to the profile.
void add_cpu_timeline(const model::Recording& rec, nlohmann::json& events, nlohmann::json& other) {
  const uint64_t t0 = rec.start_ns;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<const model::ThreadRun*>> by_thread;
  for (const auto& r : rec.sched_timeline.runs) by_thread[{r.pid, r.tid}].push_back(&r);
  std::map<std::pair<uint32_t, uint32_t>, const model::ThreadInfo*> info;
  for (const auto& t : rec.threads) info[{t.pid, t.tid}] = &t;
  auto clipped = [&](const char* cat, const char* name, uint32_t pid, uint32_t tid, uint64_t from, uint64_t to) {
    from = std::max(from, rec.start_ns);
    to = std::min(to, rec.end_ns);
    if (to > from) events.push_back(complete_event(cat, name, pid, kCpuStateTrackTid + tid, from, to, t0));
    return to > from ? &events.back() : nullptr;
  };
  uint64_t coalesced = 0;
  for (auto& [key, runs] : by_thread) {
    const auto [pid, tid] = key;
    auto it = info.find(key);
    const std::string comm = it != info.end() ? it->second->comm : "thread";
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", kCpuStateTrackTid + tid},
                      {"args", {{"name", comm + " " + std::to_string(tid) + " · CPU"}}}});
    events.push_back({{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", pid}, {"tid", kCpuStateTrackTid + tid},
                      {"args", {{"sort_index", 2 * static_cast<uint64_t>(tid) + 1}}}});
    std::sort(runs.begin(), runs.end(), [](const auto* a, const auto* b) { return a->on_ns < b->on_ns; });
    const model::ThreadRun* prev = nullptr;
    for (const model::ThreadRun* r : runs) {
      const bool follows = prev && r->seq == prev->seq + 1 && r->ready_ns >= prev->off_ns;
      if (follows && r->ready_ns > prev->off_ns) clipped("sched", "blocked", pid, tid, prev->off_ns, r->ready_ns);
      if (auto* e = clipped("sched", "runnable", pid, tid, r->ready_ns, r->on_ns); e && follows)
        (*e)["args"] = {{"after", prev->flags & model::ThreadRun::kPreempted ? "preemption" : "wakeup"}};
      if (auto* e = clipped("sched", "running", pid, tid, r->on_ns, r->off_ns)) {
        nlohmann::json args = {{"cpu", r->cpu}};
        // The gaps folded into the run were off CPU: drawn as running, said here.
        if (r->coalesced) args["coalesced_gaps"] = {{"count", r->coalesced}, {"us", r->coalesced_ns / 1e3}};
        (*e)["args"] = std::move(args);
      }
      coalesced += r->coalesced_ns;
      prev = r;
    }
  }
  auto loss = [&](const char* name) {
    auto l = rec.losses.find(name);
    return l == rec.losses.end() ? uint64_t{0} : l->second;
  };
  other["running_intervals"] = {
      {"runs", rec.sched_timeline.runs.size()},
      {"runs_per_s_per_cpu", rec.sched_timeline.runs_per_s},
      {"coalesce_us", rec.sched_timeline.coalesce_ns / 1e3},
      {"coalesced_gaps_us", coalesced / 1e3},
      {"runs_over_budget", loss("sched.runs_over_budget")},
      {"runs_dropped", loss("sched.runs_dropped")},
      {"cpu_state_track", "tid + " + std::to_string(kCpuStateTrackTid)}};
}

}  // namespace

nlohmann::json render_chrome_trace(const profiler::Index& ctx) {
  const auto& rec = ctx.rec;
  const uint64_t t0 = rec.start_ns;
  nlohmann::json events = nlohmann::json::array();

  for (const auto& p : rec.processes)
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", p.pid}, {"tid", p.pid},
                      {"args", {{"name", p.comm + " (" + std::to_string(p.pid) + ")"}}}});
  for (const auto& t : rec.threads) {
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", t.pid}, {"tid", t.tid},
                      {"args", {{"name", t.comm + " " + std::to_string(t.tid)}}}});
    events.push_back({{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", t.pid}, {"tid", t.tid},
                      {"args", {{"sort_index", 2 * static_cast<uint64_t>(t.tid)}}}});
    // The thread's life within the profile: the slice the waits nest under.
    uint64_t start = std::max(t.start_ns, rec.start_ns);
    uint64_t end = t.end_ns ? std::min(t.end_ns, rec.end_ns) : rec.end_ns;
    if (end > start)
      events.push_back({{"ph", "X"}, {"cat", "thread"}, {"name", "thread " + t.comm}, {"pid", t.pid},
                        {"tid", t.tid}, {"ts", us_since(start, t0)}, {"dur", (end - start) / 1e3},
                        {"args", {{"created_in_profile", t.start_ns > rec.start_ns},
                                  {"exited_in_profile", t.end_ns != 0}}}});
  }

  std::map<std::pair<uint32_t, uint64_t>, const profiler::LockInfo*> lock_of;
  std::vector<profiler::LockInfo> locks = ctx.locks;
  for (const auto& l : locks) lock_of[{l.pid, l.uaddr}] = &l;
  for (const auto& w : rec.futex_waits) {
    auto it = lock_of.find(ctx.lock_key(w.pid, w.uaddr));
    std::string name = it != lock_of.end() ? profiler::lock_display_name(*it->second) : profiler::hex_address(w.uaddr);
    std::string type = it != lock_of.end() ? it->second->type : "futex";
    nlohmann::json args = {{"lock", name}, {"address", profiler::hex_address(w.uaddr)}, {"type", type}};
    if (w.owner_tid > 0) args["owner_tid"] = w.owner_tid;
    if (w.owner_syscall >= 0) args["owner_syscall"] = profiler::syscall_name(w.owner_syscall);
    events.push_back({{"ph", "X"}, {"cat", type == "condvar" ? "condvar" : "lock"},
                      {"name", (type == "condvar" ? "condvar wait: " : "lock wait: ") + name}, {"pid", w.pid},
                      {"tid", w.tid}, {"ts", us_since(w.start_ns, t0)}, {"dur", w.duration_ns / 1e3},
                      {"args", std::move(args)}});
  }

  nlohmann::json other = {{"source", "ccprof"},
                          {"command", rec.command},
                          {"lock_wait_events_kept", rec.futex_waits.size()}};
  if (rec.has_sched_timeline)
    add_cpu_timeline(rec, events, other);
  else
    other["running_intervals"] = "not recorded: the recording has no CPU timeline (made before ccprof recorded "
                                 "one, or without the sched collector)";
  other["lock_wait_events_seen"] = rec.futex.wait_events_seen ? rec.futex.wait_events_seen : rec.futex_waits.size();
  if (rec.has_sched) {
    const profiler::SchedSection* sched = &rec.sched;
    other["long_syscall_threshold_ns"] = sched->long_syscall_ns;
    for (const auto& s : sched->long_syscalls) {
      if (!profiler::is_blocking_syscall(s.nr)) continue;  // spawn/mmap samples are not waits
      events.push_back({{"ph", "X"}, {"cat", "syscall"}, {"name", profiler::syscall_name(s.nr)}, {"pid", s.pid},
                        {"tid", s.tid}, {"ts", us_since(s.enter_ns, t0)}, {"dur", s.duration_ns / 1e3}});
    }
    for (const auto& r : sched->rss)
      events.push_back({{"ph", "C"}, {"name", "rss"}, {"pid", r.pid}, {"tid", r.pid}, {"ts", us_since(r.time_ns, t0)},
                        {"args", {{"MiB", r.rss_bytes / 1048576.0}}}});
  } else {
    other["sched"] = "the recording has no sched section (collector off)";
  }
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", std::move(other)}};
}

}  // namespace ccprof::report
