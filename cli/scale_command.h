#pragma once
// `ccprof scale`: run a command at several thread counts, fit the Universal
// Scalability Law, profile the largest count once to find where the threads
// coordinate, and write findings.json, report.html and scaling.svg.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace ccprof::cli {

struct ScaleCommandOptions {
  std::string out_dir = "ccprof-out";
  std::string threads = "1,2,4,8,16";  // as typed: comma-separated thread counts
  int runs = 3;
  std::string metric;                  // regex over stdout; "" = 1 / wall time
  std::vector<std::string> command;    // with {threads}
  std::string sampler = "auto";        // for the one profiled run
  bool sched = true;
  bool profile = true;                 // profile the largest N when the scaling is retrograde
};

// Does everything, prints the terminal summary, and returns the findings document
// that was written (main applies --fail-on to it).
absl::StatusOr<nlohmann::json> run_scale(const ScaleCommandOptions& opts);

}  // namespace ccprof::cli
