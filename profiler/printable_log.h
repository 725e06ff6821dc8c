#pragma once
// Log lines carry text from the target and from recordings (paths, names, libdw's
// messages about their files): the payload of every line is passed through
// printable() when it is formatted, so no call site can forget it.
#include <memory>
#include <string>

#include "spdlog/pattern_formatter.h"

namespace ccprof::profiler {

// A formatter for `pattern`, in which %* is the message made printable (use it
// instead of %v).
std::unique_ptr<spdlog::formatter> printable_log_formatter(const std::string& pattern);

}  // namespace ccprof::profiler
