#pragma once
// Recording -> the per-thread timeline in the Trace Event Format (JSON) that Perfetto
// and chrome://tracing open: each thread's lifetime, its waits on each lock, its long
// blocking syscalls, and the target's RSS as a counter.
#include <nlohmann/json.hpp>

#include "profiler/index.h"

namespace ccprof::report {

nlohmann::json render_chrome_trace(const profiler::Index& ctx);

}  // namespace ccprof::report
