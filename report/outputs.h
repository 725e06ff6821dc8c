#pragma once
// Writes every output of one profile into a folder: findings.json, report.html and
// (for live profiles) the recording that `ccprof report` re-reads.
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "profiler/recording.h"

namespace ccprof::report {

inline constexpr const char* kRecordingFile = "recording.ccprof";

// Returns the findings document that was written.
absl::StatusOr<nlohmann::json> write_outputs(const profiler::Recording& rec, const std::string& out_dir,
                                             bool write_recording);

}  // namespace ccprof::report
