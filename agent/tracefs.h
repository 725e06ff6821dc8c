#pragma once
#include <string>

#include "absl/status/status.h"

namespace ccprof::agent {

// Tracepoints need tracefs; a fresh machine may not have it mounted. Mounts it at
// /sys/kernel/tracing when it is missing (needs root).
absl::Status ensure_tracefs();
bool tracepoint_exists(const std::string& category, const std::string& event);

}  // namespace ccprof::agent
