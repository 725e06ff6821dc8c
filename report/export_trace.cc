#include "report/export_trace.h"

#include <map>

#include "profiler/lock_table.h"
#include "profiler/text.h"

namespace ccprof::report {
namespace {

// Trace Event Format timestamps are microseconds; ours are CLOCK_MONOTONIC ns.
double us_since(uint64_t t_ns, uint64_t origin_ns) {
  return (static_cast<double>(t_ns) - static_cast<double>(origin_ns)) / 1e3;
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
                          {"lock_wait_events_kept", rec.futex_waits.size()},
                          {"running_intervals", "not recorded: the sched collector keeps per-thread totals, not "
                                                "on-CPU intervals"}};
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
