#pragma once
// Where the symbolizer looks for a module's separate debug info, opening only regular
// files without blocking. The file names come from the target's ELF (.gnu_debuglink,
// .gnu_debugaltlink) and the module paths from a recording, so none is trusted.
#include <elfutils/libdwfl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/target_files.h"

namespace ccprof::profiler {

// What the lookup knows of a module beyond libdwfl's arguments, passed as the module's
// userdata: the target whose own root (a container's) is searched before the host; and
// what the lookup found, or what it looked for in vain, for the report.
struct DebuginfoSearch {
  const model::TargetFiles* files = nullptr;
  uint32_t pid = 0;
  // Of the module's own debug file (not its dwz file): kBuildId..., and the path used.
  std::string source, path;
  std::vector<std::string> tried;  // "build ID 1a2b…: no /usr/lib/debug/.build-id/1a/2b….debug", ...
};

// Where a module's debug info came from (findings.json "debug_info[].source").
inline constexpr const char* kDebugInBinary = "in the binary";
inline constexpr const char* kDebugBuildId = "build-id file";
inline constexpr const char* kDebugBuildIdInTarget = "build-id file in the target's root";
inline constexpr const char* kDebugLink = ".gnu_debuglink";
inline constexpr const char* kDebugDebuginfod = "debuginfod";
inline constexpr const char* kDebugNone = "none";
inline constexpr const char* kDebugUnreadable = "module unreadable";

// Where files are looked up by build ID: /usr/lib/debug (Debian's -dbgsym packages),
// then the absolute directories of $CCPROF_DEBUGINFO_PATH (colon-separated), each as
// DIR/.build-id/xx/yyyy.debug (a debug file) or DIR/.build-id/xx/yyyy (the module).
const std::vector<std::string>& build_id_roots();

// A Dwfl_Callbacks::find_debuginfo that looks where Debian puts debug info, and nowhere
// a name could lead elsewhere:
//   /usr/lib/debug/.build-id/xx/yyyy.debug        (by the module's build ID)
//   DIR/LINK, DIR/.debug/LINK, /usr/lib/debug/DIR/LINK   (LINK from .gnu_debuglink,
//                                                  DIR the module's folder; LINK must
//                                                  be a plain file name)
//   an absolute .gnu_debugaltlink under /usr/lib/debug/ without ".." (dwz files)
// A debuglink candidate is used only when its CRC matches the one the module names.
// Each path is looked up first inside the target's root when it has its own (a
// container: its -dbgsym files and debuglinks are there), then on the host.
// Then, only where $DEBUGINFOD_URLS names servers, debuginfod by build ID (the user's
// choice, as for gdb and perf; bounded in time, see debuginfod_fetch.h).
int find_debuginfo_safely(Dwfl_Module* mod, void** userdata, const char* modname, Dwarf_Addr base,
                          const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                          char** debuginfo_file_name);

}  // namespace ccprof::profiler
