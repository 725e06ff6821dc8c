#pragma once
// analyze(): Recording -> ranked Findings plus the tables the reports show, in four
// stages: build the index (profiler/index.h), run every rule (profiler/rule.h),
// arbitrate findings on the same subject, build the report tables
// (profiler/tables.h). report/ renders the result; it never analyses.
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/finding.h"
#include "profiler/model_names.h"

namespace ccprof::profiler {

struct Analysis {
  std::vector<Finding> findings;  // ranked
  // Tables for the outputs: "locks", "threads", "stacks", "timeline", "samples",
  // "losses", "memory", "cache_lines", "rss" (see docs/findings-schema.md).
  nlohmann::json tables = nlohmann::json::object();
};

Analysis analyze(const Recording& rec);

// The arbitration step: a general finding (catalog: KindInfo::general) whose subject
// a more specific finding explains is dropped ("shard it" would be the wrong advice
// for a lock held across I/O). Then findings are ranked by cost.
void arbitrate(std::vector<Finding>& findings);

}  // namespace ccprof::profiler
