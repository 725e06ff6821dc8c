#pragma once
// analyze(): Recording -> ranked Findings plus the tables the reports show.
// Each rule family lives in its own file and is called from analysis.cc.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/finding.h"
#include "profiler/recording.h"
#include "profiler/symbolizer.h"
#include "profiler/unwinder.h"

namespace ccprof::profiler {

// Shared state of one analysis: symbolizers per process, unwound stacks, thread times.
class AnalysisContext {
 public:
  explicit AnalysisContext(const Recording& rec);
  const Recording& rec;

  Symbolizer* symbolizer(uint32_t pid);  // nullptr when the process is not recorded
  // Frames of Recording::stacks[i], innermost first (unwound once, cached).
  const std::vector<Frame>& frames(int stack_index);
  // The first frame outside system libraries/headers: the user's call site.
  // nullptr when the stack has none (or did not unwind).
  const Frame* user_frame(int stack_index);

  // Seconds each thread existed within the profile, and their sum.
  double thread_lifetime_s(uint32_t tid) const;
  double total_thread_seconds() const { return total_thread_s_; }
  std::string comm(uint32_t tid) const;

  LossCounters losses;  // what the analysis could not resolve (merged into the output)
  nlohmann::json tables = nlohmann::json::object();  // becomes Analysis::tables
  // Per-thread figures other rule families add to the threads table ("on_cpu_s", ...).
  std::map<uint32_t, nlohmann::json> thread_extra;

 private:
  std::map<uint32_t, std::unique_ptr<Symbolizer>> syms_;
  std::map<int, std::vector<Frame>> frames_;
  std::map<uint32_t, double> lifetimes_;
  double total_thread_s_ = 0;
};

struct Analysis {
  std::vector<Finding> findings;  // ranked
  // Tables for the outputs: "locks", "threads", "stacks", "timeline", "samples",
  // "losses" (see docs/findings-schema.md); report/ turns them into findings.json.
  nlohmann::json tables = nlohmann::json::object();
};

Analysis analyze(const Recording& rec);

}  // namespace ccprof::profiler
