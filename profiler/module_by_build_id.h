#pragma once
// `ccprof report` of a recording made elsewhere (a container's target, another host, a
// binary rebuilt since): the path a mapping names may not exist here, or may hold
// another build of the program. The recording keeps each module's build ID, so the
// module is found by it, the way debuggers find debug files, and a file that only has
// the same path is never used: its addresses would name the wrong functions.
#include <string>

namespace ccprof::profiler {

struct ModuleFile {
  int fd = -1;          // the module's file (the caller owns it), or -1
  std::string path;     // the file opened
  std::string detail;   // how it was found when not at its own path, or why none was
  bool build_id_differs = false;  // the file at the recorded path is another build
};

// The file with build ID `build_id` (hex, as recorded) for the module mapped as `path`:
// `path` itself when its build ID matches, else by build ID under each root of
// build_id_roots() (DIR/.build-id/xx/yyyy, the link distros and build systems make to
// the binary), else, where $DEBUGINFOD_URLS names servers, debuginfod's executable
// query. Every candidate's own build ID is checked; only regular files are opened.
ModuleFile open_module_by_build_id(const std::string& path, const std::string& build_id);

}  // namespace ccprof::profiler
