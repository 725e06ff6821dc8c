#pragma once
// A Finding: one diagnosed problem with its cost, evidence, locations and remedy.
// The JSON contract (findings.json) is documented in docs/findings-schema.md.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ccprof::profiler {

struct SourceLocation {
  std::string function;  // demangled, "" when unknown
  std::string file;      // as the debug info names it, "" when unknown
  int line = 0;          // 0 when unknown
  uint64_t address = 0;  // instruction address in the target
  std::string module;    // object file that holds the address
  std::string role;      // what this location is in the finding ("waits for the lock", "writes offset 8")
  double share = 0;      // share of the finding's cost at this location, 0..1
};

struct Remedy {
  std::string kind;      // the remedy's id from SCENARIOS.md ("shard", "pad", ...)
  std::string text;      // one paragraph, in the words of the evidence
  std::string language = "cpp";
  std::string before;    // short code example of the problem
  std::string after;     // and of the fix
};

// What a finding is about: the object the remedy changes. Findings on the same subject
// are arbitrated (profiler/analysis.cc) and matched across profiles by it.
enum class SubjectKind { kNone, kLock, kCacheLine, kWord, kProcess, kThreadPool, kCallSite };

struct Subject {
  SubjectKind kind = SubjectKind::kNone;
  uint32_t pid = 0;
  uint64_t address = 0;  // lock, cache line or word address; 0 for processes and pools
  std::string name;      // how the text names it ("g_table_mutex", "the heap line at 0x...")
  bool operator==(const Subject& o) const { return kind == o.kind && pid == o.pid && address == o.address; }
};

// How much faster the program is predicted to get when the finding is fixed
// (profiler/predicted_gain.h): throughput multiplier low..high, or no prediction and why.
struct PredictedGain {
  bool predicted = false;
  double low = 0, high = 0;  // throughput(fixed) / throughput(now), low <= high
  std::string model;         // which model mapped the evidence to the range
  nlohmann::json inputs = nlohmann::json::object();  // the measured numbers it used
  std::string reason;        // why there is no prediction (predicted == false)
};

struct Finding {
  std::string kind;      // "lock-contention", "false-sharing", ...
  int scenario = 0;      // 1..14 (SCENARIOS.md)
  std::string title;
  double cost_thread_s = 0;  // thread-seconds lost
  double cost_share = 0;     // of all thread-seconds in the profile, 0..1
  std::string confidence;    // "high", "medium", "low"
  std::string explanation;   // why, with the evidence's numbers
  Remedy remedy;
  std::vector<SourceLocation> locations;
  nlohmann::json evidence = nlohmann::json::object();  // kind-specific, see the schema
  Subject subject;
  // Whether this finding explains its subject well enough that a general diagnosis
  // of the same subject (catalog: KindInfo::general) is dropped in its favour.
  bool explains_subject = true;
  PredictedGain predicted_gain;  // filled after arbitration (predict_gains())
  int gain_rank = 0;             // 1 = largest predicted gain; 0 = not ranked yet
};

// Ranks by cost (thread-seconds, then share, then kind for a stable order).
void rank_findings(std::vector<Finding>& findings);

}  // namespace ccprof::profiler
