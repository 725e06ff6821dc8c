#pragma once
// The only writer of ccprof's outputs, for `run`, `attach`, `report` and `scale`
// alike: the recording (for live profiles), findings.json, report.html and, for a
// scale study, scaling.svg, all in one output folder.
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace ccprof::report {

inline constexpr const char* kRecordingFile = "recording.ccprof";

// `doc` is a findings document (report/findings_json.h). `recording_file`, the live
// profile's recording already encoded (model::encode_recording, which a caller can run
// beside the analysis), is saved beside it when given; `ccprof report` and `scale`
// pass nullptr.
// All of them are written as one set (report/output_set.h): a failure leaves the
// previous outputs, never some new and some missing.
absl::Status write_outputs(const nlohmann::json& doc, const std::string* recording_file, const std::string& out_dir);

// When the analysis failed: the live profile's recording alone, so it can be re-analysed.
absl::Status write_recording_alone(std::string recording_file, const std::string& out_dir);

}  // namespace ccprof::report
