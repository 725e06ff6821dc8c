#pragma once
// findings.json: the machine-readable contract (docs/findings-schema.md).
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "profiler/analysis.h"
#include "profiler/recording.h"

namespace ccprof::report {

// Explains every loss counter name in one sentence (shown beside the count).
std::string describe_loss(const std::string& name);

// Builds the whole document. With `snippets`, each location carries the source lines
// around it when the file is on disk (and says why not otherwise).
nlohmann::json build_findings_document(const profiler::Recording& rec, const profiler::Analysis& analysis,
                                       bool snippets = true);

// The text of findings.json.
std::string findings_json_text(const nlohmann::json& doc);
absl::Status write_findings_json(const nlohmann::json& doc, const std::string& path);

}  // namespace ccprof::report
