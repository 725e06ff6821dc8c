#include "profiler/gil_rules.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "profiler/catalog.h"
#include "profiler/rule.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

namespace th = thresholds::gil;

// The GIL lives in the interpreter's runtime state: `_PyRuntime` (3.8-3.11: ceval.gil;
// 3.12+: the main interpreter is embedded in it too), a global of the interpreter.
bool is_gil_futex(const LockInfo& l) {
  return is_python_object(l.data.module) && absl::StartsWith(l.data.name, "_PyRuntime");
}

// A Python script in the command line, for the report (Python frames are not resolved).
std::string script_of(const ProcessInfo* p) {
  if (!p) return "";
  for (const auto& a : p->cmdline)
    if (absl::EndsWith(a, ".py")) return a;
  return "";
}

std::vector<Finding> gil_contention(const Index& ctx) {
  const std::vector<LockInfo>& locks = ctx.locks;
  std::vector<Finding> out;
  // Per process: the GIL's futex words (its condvar and mutex) together.
  struct Gil {
    uint64_t waits = 0;
    double wait_s = 0;
    std::map<uint32_t, double> waiters;
    std::vector<const LockInfo*> parts;
    uint64_t python_frames = 0, stacks = 0;
  };
  std::map<uint32_t, Gil> by_pid;
  for (const auto& l : locks) {
    if (!is_gil_futex(l)) continue;
    Gil& g = by_pid[l.pid];
    g.waits += l.waits;
    g.wait_s += l.total_wait_s;
    for (const auto& [tid, w] : l.waiters) g.waiters[tid] += w.wait_s;
    g.parts.push_back(&l);
    for (int si : l.stack_indices) {
      const auto& frames = ctx.frames(si);
      if (frames.empty()) continue;
      g.stacks++;
      for (const auto& fr : frames)
        if (is_python_object(fr.loc.module)) {
          g.python_frames++;
          break;
        }
    }
  }
  for (const auto& [pid, g] : by_pid) {
    double lifetimes = 0;
    for (const auto& [tid, w] : g.waiters) lifetimes += ctx.thread_lifetime_s(tid);
    double share = lifetimes > 0 ? g.wait_s / lifetimes : 0;
    if (static_cast<int>(g.waiters.size()) < th::kMinWaiters || share < th::kMinWaitShare) continue;
    // The waiters must be in the interpreter when they wait (not a C extension that
    // happens to use a futex near _PyRuntime): at least half of the sampled stacks.
    if (g.stacks && g.python_frames * 2 < g.stacks) continue;
    const ProcessInfo* proc = ctx.rec.process(pid);
    std::string script = script_of(proc);
    std::string module = g.parts.front()->data.module;
    Finding f = new_finding("gil-contention");
    f.subject = {SubjectKind::kProcess, pid, 0, script.empty() ? short_file(module) : short_file(script)};
    f.title = absl::StrFormat("%zu Python threads take turns holding the GIL", g.waiters.size());
    f.cost_thread_s = g.wait_s;
    f.cost_share = ctx.cost_share(g.wait_s);
    f.confidence = g.stacks ? "high" : "medium";
    f.explanation = absl::StrFormat(
        "%zu threads of the Python process %d%s waited %.3f s for the interpreter lock (GIL) in %d waits, %.0f%% "
        "of their time. The futexes are the GIL's own, inside _PyRuntime in %s%s. Only one thread runs Python "
        "bytecode at a time: CPU-bound threads add waiting, not throughput.",
        g.waiters.size(), pid, script.empty() ? "" : " (" + short_file(script) + ")", g.wait_s, g.waits, share * 100,
        short_file(module),
        g.stacks ? absl::StrFormat(", and %d of %d sampled waiting stacks are in the interpreter", g.python_frames,
                                   g.stacks)
                 : "");
    f.remedy.text = absl::StrFormat(
        "Run the CPU-bound work in processes instead of threads (multiprocessing or "
        "concurrent.futures.ProcessPoolExecutor with ~%d workers, one per core), or move the hot loop into native "
        "code that releases the GIL (NumPy, a C/Cython/Rust extension with Py_BEGIN_ALLOW_THREADS). Threads remain "
        "right for I/O-bound work, which releases the GIL while it waits.",
        ctx.rec.online_cpus ? ctx.rec.online_cpus : 2);
    f.remedy.language = "python";
    f.remedy.before =
        "from threading import Thread\n"
        "threads = [Thread(target=crunch, args=(chunk,)) for chunk in chunks]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()";
    f.remedy.after =
        "from concurrent.futures import ProcessPoolExecutor\n"
        "with ProcessPoolExecutor() as pool:   # one process per core\n"
        "    results = list(pool.map(crunch, chunks))";
    // Where: the script (Python lines are not resolved from native stacks), then the
    // interpreter's waiting site.
    if (!script.empty())
      f.locations.push_back(file_location(script, "<module>",
                                          "the Python program whose threads contend (Python frames are not resolved)", 1.0));
    for (const auto* part : g.parts)
      for (const auto& site : part->sites) {
        f.locations.push_back(to_source_location(site.loc, "the interpreter waits for the GIL here", site.share));
        break;
      }
    nlohmann::json waiters = nlohmann::json::array();
    for (const auto& [tid, w] : g.waiters)
      waiters.push_back({{"tid", tid}, {"comm", ctx.comm(tid)}, {"wait_s", w}});
    f.evidence = {{"pid", pid},
                  {"interpreter", module},
                  {"script", script},
                  {"threads", g.waiters.size()},
                  {"waits", g.waits},
                  {"wait_s", g.wait_s},
                  {"wait_share", share},
                  {"waiters", waiters},
                  {"stacks_in_interpreter", g.python_frames},
                  {"stacks", g.stacks}};
    if (!g.parts.empty()) f.evidence["lock"] = lock_to_json(*g.parts.front(), ctx.threads);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

bool is_python_object(const std::string& path) {
  std::string b = short_file(path);
  return absl::StartsWith(b, "libpython") || absl::StartsWith(b, "python");
}

std::vector<std::unique_ptr<Rule>> gil_rule_family() {
  return rule_family(make_rule({"gil-contention"}, &gil_contention));
}

}  // namespace ccprof::profiler
