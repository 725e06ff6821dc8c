#pragma once
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace ccprof::model {

// Writes `content` to a temporary file in the same folder as `path`, flushes it to
// disk and renames it over `path`: readers see the old file or the whole new one,
// never half of it, and a failure leaves no temporary file behind.
// Errors read "cannot write <what> <path>: <step>: <reason>" (`what` may be empty).
absl::Status write_file_atomically(const std::string& path, std::string_view content, const std::string& what = "");

}  // namespace ccprof::model
