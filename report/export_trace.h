#pragma once
// Recording -> the per-thread timeline in the Trace Event Format (JSON) that Perfetto
// and chrome://tracing open: each thread's lifetime, its waits on each lock, its long
// blocking syscalls, its runs on a CPU (running, runnable, blocked, on a track of its
// own beside the thread's), and the target's RSS as a counter.
#include <nlohmann/json.hpp>

#include "profiler/index.h"

namespace ccprof::report {

// A thread's CPU states go on a track of their own (a wait spans the end of one run
// and the start of the next, so the two cannot nest on one track): tid + this. Linux
// tids are below 2^22 (PID_MAX_LIMIT), so it never names a real thread.
inline constexpr uint32_t kCpuStateTrackTid = 1u << 30;

nlohmann::json render_chrome_trace(const profiler::Index& ctx);

}  // namespace ccprof::report
