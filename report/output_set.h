#pragma once
// The outputs of one profile (recording.ccprof, findings.json, report.html) are one
// set: a reader finds all of them from one profile, or the previous set, never some
// new and some missing. A full disk or a read-only folder gives one clean error and
// leaves no temporary behind.
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ccprof::report {

struct OutputFile {
  std::string name;     // file name inside the output folder ("findings.json")
  std::string content;
  std::string what;     // for messages: "recording", "report", ...
};

// Creates `dir` if needed and proves a file can be created and written in it, so an
// unwritable folder fails before a profile is taken instead of after.
absl::Status prepare_output_dir(const std::string& dir);

// Writes every file to a temporary in `dir` and flushes it; only when all are on disk
// are they renamed into place (renames within one folder do not fail for lack of
// space). On any error before that, every temporary is removed and no output changes.
absl::Status write_output_set(const std::string& dir, const std::vector<OutputFile>& files);

}  // namespace ccprof::report
