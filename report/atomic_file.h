#pragma once
#include <string>

#include "absl/status/status.h"

namespace ccprof::report {

// Writes `content` to a temp file beside `path`, fsyncs and renames it over `path`:
// readers see the old file or the whole new one, never half of it.
absl::Status write_file_atomically(const std::string& path, const std::string& content);

}  // namespace ccprof::report
