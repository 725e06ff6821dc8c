#pragma once
// `ccprof export`: a recording -> a file other tools read (pprof, folded stacks,
// Trace Event Format). See docs/export-formats.md.
#include <string>

#include "absl/status/status.h"
#include "model/recording.h"

namespace ccprof::report {

struct ExportOptions {
  std::string format = "pprof";         // pprof | collapsed | chrome-trace
  std::string profile = "contention";   // contention | offcpu | memory (pprof and collapsed)
  std::string out_path;
};

// Validates the options, builds the export and writes it atomically to out_path.
absl::Status export_recording(const model::Recording& rec, const ExportOptions& opts);

}  // namespace ccprof::report
