#pragma once
// findings.json: the machine-readable contract (docs/findings-schema.md).
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "profiler/analysis.h"
#include "model/recording.h"

namespace ccprof::report {

// findings.json's schema_version. 2: every finding's evidence.lock is the lock's table
// row (it was a name, a short object or the row); findings carry a typed "subject"; the
// document has a "catalog". report.html's SCHEMA_VERSION is the same number.
inline constexpr int kSchemaVersion = 2;

// Builds the whole document. With `snippets`, each location carries the source lines
// around it when the file is on disk (and says why not otherwise).
nlohmann::json build_findings_document(const model::Recording& rec, const profiler::Analysis& analysis,
                                       bool snippets = true);

// The catalog of finding kinds (profiler/catalog.h) as findings.json's "catalog".
nlohmann::json catalog_json();

// The text of findings.json.
std::string findings_json_text(const nlohmann::json& doc);
absl::Status write_findings_json(const nlohmann::json& doc, const std::string& path);

}  // namespace ccprof::report
