#include "report/export_profile.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "absl/strings/str_format.h"
#include "profiler/lock_table.h"
#include "profiler/analysis.h"
#include "profiler/index.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"
#include "profiler/model_names.h"

namespace ccprof::report {
namespace {

using profiler::Index;
using profiler::FutexWait;
using profiler::LockInfo;

ExportFrame pseudo_frame(std::string text) {
  ExportFrame f;
  f.pseudo = std::move(text);
  return f;
}

// The frames of a sampled stack, or one pseudo frame saying it did not unwind.
std::vector<ExportFrame> stack_frames(const Index& ctx, int stack_index) {
  std::vector<ExportFrame> out;
  uint32_t pid = ctx.rec.stacks[stack_index].pid;
  for (const auto& f : ctx.frames(stack_index)) out.push_back({pid, f.lookup_pc, &f.loc, ""});
  if (out.empty()) out.push_back(pseudo_frame("[stack not unwound]"));
  return out;
}

// Weighted stacks of one group (a lock, or a thread's reason) before scaling.
struct StackGroup {
  std::map<std::vector<uint64_t>, size_t> index;  // unwound pcs (or {stack id} when not unwound) -> row
  struct Row { int stack = -1; double weight = 0; uint64_t n = 0; };
  std::vector<Row> rows;
  uint64_t n = 0;

  void add(const Index& ctx, int stack, double weight) {
    std::vector<uint64_t> key;
    for (const auto& f : ctx.frames(stack)) key.push_back(f.pc);
    // Stacks that did not unwind share one row per process.
    if (key.empty()) key = {0, ctx.rec.stacks[stack].pid};
    auto [it, added] = index.emplace(key, rows.size());
    if (added) rows.push_back({stack, 0, 0});
    rows[it->second].weight += weight;
    rows[it->second].n++;
    n++;
  }
};

}  // namespace

std::vector<int64_t> apportion(int64_t total, const std::vector<double>& weights) {
  std::vector<int64_t> out(weights.size(), 0);
  if (weights.empty()) return out;
  double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  double cum = 0;
  int64_t given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    cum += sum > 0 ? weights[i] / sum : 1.0 / weights.size();
    int64_t upto = i + 1 == weights.size() ? total : std::llround(cum * static_cast<double>(total));
    out[i] = upto - given;
    given = upto;
  }
  return out;
}

ExportProfile build_contention_profile(const Index& ctx) {
  const auto& rec = ctx.rec;
  ExportProfile p;
  p.kind = "contention";
  p.sample_types = {{"contentions", "count"}, {"delay", "nanoseconds"}};
  p.default_sample_type = "delay";
  p.duration_ns = static_cast<int64_t>(rec.end_ns - rec.start_ns);
  p.comments.push_back("ccprof contention profile: futex waits on locks (condition variables excluded)");
  p.comments.push_back("each lock's delay and count equal the kernel's exact totals; its sampled stacks share them "
                       "in proportion to their own wait");

  std::map<std::pair<uint32_t, uint64_t>, std::vector<const FutexWait*>> sampled;
  for (const auto& w : rec.futex_waits)
    if (w.stack >= 0 && w.stack < static_cast<int>(rec.stacks.size())) sampled[ctx.lock_key(w.pid, w.uaddr)].push_back(&w);

  uint64_t unsampled_locks = 0;
  for (const LockInfo& l : ctx.locks) {
    if (l.type == "condvar" || l.waits == 0) continue;
    const auto total_ns = static_cast<int64_t>(std::llround(l.total_wait_s * 1e9));
    std::map<std::string, std::string> labels = {{"lock", profiler::lock_display_name(l)},
                                                 {"lock_address", profiler::hex_address(l.uaddr)},
                                                 {"lock_type", l.type}};
    std::map<std::string, int64_t> nums = {{"pid", l.pid}};
    StackGroup g;
    for (const FutexWait* w : sampled[{l.pid, l.uaddr}]) g.add(ctx, w->stack, static_cast<double>(w->duration_ns));
    if (g.rows.empty()) {
      ++unsampled_locks;
      p.samples.push_back({{pseudo_frame("[no stack sampled for this lock]")},
                           {static_cast<int64_t>(l.waits), total_ns}, labels, nums});
      continue;
    }
    std::vector<double> wt, cnt;
    for (const auto& r : g.rows) {
      wt.push_back(r.weight);
      cnt.push_back(static_cast<double>(r.n));
    }
    auto delays = apportion(total_ns, wt);
    auto counts = apportion(static_cast<int64_t>(l.waits), cnt);
    for (size_t i = 0; i < g.rows.size(); ++i)
      p.samples.push_back({stack_frames(ctx, g.rows[i].stack), {counts[i], delays[i]}, labels, nums});
  }
  if (unsampled_locks)
    p.comments.push_back(absl::StrFormat("%d locks had no sampled stack: their waits are under one pseudo frame",
                                         unsampled_locks));
  return p;
}

ExportProfile build_memory_profile(const Index& ctx) {
  const auto& rec = ctx.rec;
  ExportProfile p;
  p.kind = "memory";
  p.sample_types = {{"samples", "count"}};
  p.default_sample_type = "samples";
  p.duration_ns = static_cast<int64_t>(rec.end_ns - rec.start_ns);
  // The same decoding and cache-line table as the report (a second analysis of the
  // recording; the export keeps its own context for the frames).
  profiler::Analysis analysis = profiler::analyze(rec);
  const nlohmann::json lines = analysis.tables.value("cache_lines", nlohmann::json::array());
  const nlohmann::json mem = analysis.tables.value("memory", nlohmann::json::object());
  p.comments.push_back("ccprof memory profile: decoded memory-access samples (mode " +
                       mem.value("mode", std::string("unknown")) + ") on the cache lines the report shows");
  p.comments.push_back(absl::StrFormat(
      "%d memory samples, %d with a data address; only the hottest %d lines with at least %d samples are exported",
      mem.value("samples", 0), mem.value("with_address", 0), lines.size(),
      profiler::thresholds::kMemoryMinLineSamples));
  for (const auto& line : lines) {
    std::string name = line.value("name", "");
    std::string address = line.value("address", "");
    for (const auto& off : line.value("offsets", nlohmann::json::array())) {
      for (const auto& insn : off.value("instructions", nlohmann::json::array())) {
        uint64_t ip = std::stoull(insn.value("address", "0x0"), nullptr, 16);
        ExportFrame f;
        // The process whose mappings hold the instruction (lines carry no pid).
        for (const auto& proc : rec.processes) {
          profiler::Symbolizer* sym = ctx.symbolizer(proc.pid);
          if (sym && sym->map_of(ip)) {
            f = {proc.pid, ip, &sym->code(ip), ""};
            break;
          }
        }
        if (!f.loc) f.pseudo = insn.value("function", std::string("[unknown instruction]"));
        p.samples.push_back({{f},
                             {insn.value("count", int64_t{0})},
                             {{"cache_line", name.empty() ? address : name},
                              {"cache_line_address", address},
                              {"member", off.value("member", "")},
                              {"access", insn.value("kind", "")},
                              {"region", line.value("region", "")},
                              // A string: pprof drops numeric labels whose value is 0.
                              {"offset", std::to_string(off.value("offset", int64_t{0}))}},
                             {}});
      }
    }
  }
  return p;
}

absl::StatusOr<ExportProfile> build_offcpu_profile(const Index& ctx) {
  using profiler::SyscallClass;
  const auto& rec = ctx.rec;
  if (!rec.has_sched) return absl::NotFoundError("the recording has no sched section (collector off)");
  const profiler::SchedSection* sched = &rec.sched;
  ExportProfile p;
  p.kind = "offcpu";
  p.sample_types = {{"off_cpu", "nanoseconds"}};
  p.default_sample_type = "off_cpu";
  p.duration_ns = static_cast<int64_t>(rec.end_ns - rec.start_ns);
  p.comments.push_back("ccprof off-CPU profile: each thread's exact off-CPU time (sched collector): run-queue delay, "
                       "and blocked time split over reasons in proportion to their syscall wall time");

  // Lock waits per thread (not condvars), and their sampled stacks.
  std::vector<LockInfo> locks = ctx.locks;
  std::map<uint32_t, double> lock_wait_s;
  std::set<std::pair<uint32_t, uint64_t>> lock_keys;
  for (const auto& l : locks)
    if (l.type != "condvar") {
      lock_keys.insert({l.pid, l.uaddr});
      for (const auto& [tid, w] : l.waiters) lock_wait_s[tid] += w.wait_s;
    }
  std::map<std::pair<uint32_t, std::string>, StackGroup> groups;  // (tid, reason)
  for (const auto& w : rec.futex_waits)
    if (w.stack >= 0 && w.stack < static_cast<int>(rec.stacks.size()) && lock_keys.count(ctx.lock_key(w.pid, w.uaddr)))
      groups[{w.tid, "lock wait"}].add(ctx, w.stack, static_cast<double>(w.duration_ns));
  for (const auto& s : sched->long_syscalls) {
    if (s.stack < 0 || s.stack >= static_cast<int>(rec.stacks.size())) continue;
    SyscallClass c = profiler::classify_syscall(s.nr);
    if (c != SyscallClass::kIo && c != SyscallClass::kSleep && c != SyscallClass::kPoll) continue;
    groups[{s.tid, profiler::syscall_class_name(c)}].add(ctx, s.stack, static_cast<double>(s.duration_ns));
  }

  for (const auto& t : sched->threads) {
    // Off CPU = switched out until switched in again (exact, per thread): run-queue delay
    // plus blocked time. Syscall wall times overlap the run-queue delay after a wake-up,
    // so they are not added up: the blocked time is split over the reasons in proportion
    // to them.
    const auto& ns = t.syscall_ns;
    auto cls = [&](SyscallClass c) { return static_cast<double>(ns[static_cast<int>(c)]); };
    const int64_t runq = static_cast<int64_t>(std::min(t.runq_ns, t.off_cpu_ns));
    const int64_t blocked = static_cast<int64_t>(t.off_cpu_ns) - runq;
    double lock = lock_wait_s[t.tid] * 1e9;
    double other = 0;
    for (auto c : {SyscallClass::kOther, SyscallClass::kSpawn, SyscallClass::kThread, SyscallClass::kMemory,
                   SyscallClass::kMemoryGrow})
      other += cls(c);
    std::vector<std::string> names = {"lock wait", "other futex wait",
                                      profiler::syscall_class_name(SyscallClass::kIo),
                                      profiler::syscall_class_name(SyscallClass::kSleep),
                                      profiler::syscall_class_name(SyscallClass::kPoll), "other syscalls"};
    std::vector<double> weights = {lock, std::max(0.0, cls(SyscallClass::kFutex) - lock), cls(SyscallClass::kIo),
                                   cls(SyscallClass::kSleep), cls(SyscallClass::kPoll), other};
    std::vector<std::pair<std::string, int64_t>> reasons;
    if (std::accumulate(weights.begin(), weights.end(), 0.0) > 0) {
      auto parts = apportion(blocked, weights);
      for (size_t i = 0; i < parts.size(); ++i) reasons.push_back({names[i], parts[i]});
    } else {
      reasons.push_back({"blocked, reason unknown", blocked});
    }
    reasons.push_back({"runnable, waiting for a CPU", runq});
    for (const auto& [reason, total] : reasons) {
      if (total <= 0) continue;
      std::map<std::string, std::string> labels = {{"reason", reason}, {"thread", t.comm}};
      std::map<std::string, int64_t> nums = {{"pid", t.pid}, {"tid", t.tid}};
      // No parentheses in pseudo frames: pprof strips "(...)" from names as if they were parameters.
      ExportFrame leaf = pseudo_frame("[off-CPU: " + reason + "]");
      auto it = groups.find({t.tid, reason});
      if (it == groups.end() || it->second.rows.empty()) {
        p.samples.push_back({{leaf, pseudo_frame("[thread " + t.comm + "]")}, {total}, labels, nums});
        continue;
      }
      std::vector<double> wt;
      for (const auto& r : it->second.rows) wt.push_back(r.weight);
      auto parts = apportion(total, wt);
      for (size_t i = 0; i < parts.size(); ++i) {
        std::vector<ExportFrame> frames = {leaf};
        auto st = stack_frames(ctx, it->second.rows[i].stack);
        frames.insert(frames.end(), st.begin(), st.end());
        p.samples.push_back({std::move(frames), {parts[i]}, labels, nums});
      }
    }
  }
  return p;
}

}  // namespace ccprof::report
