#pragma once
// Merges serialized pprof profiles of one kind into one: the windows of `ccprof serve`
// that a /debug/pprof/...?seconds=N request covers.
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ccprof::report {

// The serialized Profile holding every sample of `profiles` (serialized Profile
// messages, oldest first), each with its own functions, locations and mappings,
// renumbered. The sample types must agree (InvalidArgument otherwise); the time is the
// first profile's, the duration spans them all, and the comments of the last are kept.
absl::StatusOr<std::string> merge_pprof(const std::vector<const std::string*>& profiles);

}  // namespace ccprof::report
