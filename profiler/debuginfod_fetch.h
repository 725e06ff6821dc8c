#pragma once
// Separate debug files from debuginfod servers (Debian's libdebuginfod), the way gdb and
// perf get them for distro binaries: only where the user named servers in
// $DEBUGINFOD_URLS, through libdebuginfod's cache ($DEBUGINFOD_CACHE_PATH, else
// ~/.cache/debuginfod_client), and bounded in time so that a slow or unreachable server
// never stalls a profile for long (see kDebuginfodQuerySeconds and
// kDebuginfodBudgetSeconds in debuginfod_fetch.cc, and docs/debug-info.md).
#include <string>

namespace ccprof::profiler {

struct DebuginfodAnswer {
  int fd = -1;        // the debug file (the caller owns it), or -1
  std::string path;   // where libdebuginfod keeps it in its cache
  std::string error;  // why there is none: "not configured", "not found on <urls>", ...
};

// The debug file of the ELF with build ID `build_id` (`len` bytes), from the cache or
// the servers of $DEBUGINFOD_URLS.
DebuginfodAnswer debuginfod_debug_file(const unsigned char* build_id, int len);
// The module itself (the executable or library with that build ID), for `ccprof report`
// of a recording whose module this host lacks; same cache, bounds and time budget.
DebuginfodAnswer debuginfod_executable(const unsigned char* build_id, int len);

}  // namespace ccprof::profiler
