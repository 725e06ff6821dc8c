#include "profiler/demangle.h"

#include <libiberty/demangle.h>

#include <cstdlib>
#include <string>

namespace ccprof::profiler {

std::string demangle(std::string_view name) {
  // _Z: C++ and Rust legacy (a C++-shaped name ending in a 17h<hash>E segment);
  // _R: Rust v0. Anything else is a plain (C, assembly) name.
  if (name.size() < 3 || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R')) return std::string(name);
  std::string s(name);  // NUL-terminated for the C API
  // DMGL_AUTO tries Rust first (legacy Rust overlaps the Itanium grammar), then C++.
  char* d = cplus_demangle(s.c_str(), DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
  if (!d) return s;
  std::string out(d);
  free(d);
  return out;
}

}  // namespace ccprof::profiler
