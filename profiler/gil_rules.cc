#include "profiler/gil_rules.h"

#include <algorithm>
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

// A Python script in the command line, for the report when Python frames were not read.
std::string script_of(const ProcessInfo* p) {
  if (!p) return "";
  for (const auto& a : p->cmdline)
    if (absl::EndsWith(a, ".py")) return a;
  return "";
}

// The Python lines the GIL's waiters were at (the agent read their frames right after
// each wait, CPython 3.11 only: agent/cpython_frames.h), by wait time.
struct PythonSites {
  const model::PythonProcess* process = nullptr;  // null: the agent saw no interpreter
  uint64_t stacks = 0;
  double wait_s = 0;
  std::vector<std::pair<int32_t, double>> top;  // innermost frame -> wait time, descending
  std::vector<uint64_t> delays_ns;              // wait end -> read, sorted
};

PythonSites python_sites(const Index& ctx, uint32_t pid, const std::set<uint64_t>& gil_words) {
  PythonSites out;
  const model::PythonSection& py = ctx.rec.python;
  for (const auto& p : py.processes)
    if (p.pid == pid) out.process = &p;
  std::map<int32_t, double> by_frame;
  for (const auto& w : py.waits) {
    if (w.pid != pid || !gil_words.count(w.uaddr) || w.frames.empty()) continue;
    out.stacks++;
    out.wait_s += w.duration_ns * 1e-9;
    by_frame[w.frames.front()] += w.duration_ns * 1e-9;
    out.delays_ns.push_back(w.read_delay_ns);
  }
  out.top.assign(by_frame.begin(), by_frame.end());
  std::sort(out.top.begin(), out.top.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::sort(out.delays_ns.begin(), out.delays_ns.end());
  return out;
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
    // Where: the Python lines the waiters were running (CPython 3.11), else the script;
    // then the interpreter's waiting site.
    std::set<uint64_t> gil_words;
    for (const auto* part : g.parts) gil_words.insert(part->uaddr);
    const PythonSites py = python_sites(ctx, pid, gil_words);
    for (size_t i = 0; i < py.top.size() && i < 3; ++i) {
      const model::PythonFrame& fr = ctx.rec.python.frames[py.top[i].first];
      SourceLocation loc =
          file_location(fr.file, fr.function, "the Python line the waiting threads ran (after their GIL waits)",
                        py.top[i].second / py.wait_s);
      loc.line = fr.line;
      f.locations.push_back(std::move(loc));
    }
    std::string python_note;
    if (py.process && !py.process->supported) python_note = py.process->note;
    else if (!py.process)
      python_note = "ccprof saw no CPython interpreter it could read: only native stacks are shown";
    else if (!py.stacks)
      python_note = "no Python frames could be read at the GIL waits: only native stacks are shown";
    if (py.top.empty() && !script.empty())
      f.locations.push_back(
          file_location(script, "<module>", "the Python program whose threads contend (Python frames not read)", 1.0));
    if (!py.top.empty()) {
      const model::PythonFrame& fr = ctx.rec.python.frames[py.top.front().first];
      f.explanation += absl::StrFormat(" The waiting threads were running %s at %s:%d (%.0f%% of the wait time of %d "
                                       "GIL waits whose Python frames were read).",
                                       fr.function, short_file(fr.file), fr.line,
                                       py.top.front().second / py.wait_s * 100, py.stacks);
    } else {
      f.explanation += " " + python_note + ".";
    }
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
    nlohmann::json pyj = {{"stacks", py.stacks}, {"note", python_note}};
    if (py.process) {
      pyj["version"] = py.process->version;
      pyj["supported"] = py.process->supported;
    }
    if (!py.delays_ns.empty()) {
      // How long after its wait ended each thread's frames were read (they may be later ones).
      pyj["read_delay_p50_s"] = py.delays_ns[py.delays_ns.size() / 2] * 1e-9;
      pyj["read_delay_max_s"] = py.delays_ns.back() * 1e-9;
    }
    f.evidence["python"] = pyj;
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
