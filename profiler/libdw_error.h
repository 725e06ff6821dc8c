#pragma once
// libdw's error texts can be NULL: dwfl_errmsg() returns dwarf_errmsg(0) or
// elf_errmsg(0) for an error of those libraries whose own code was already reset,
// and those return NULL. A corrupt .eh_frame in a target did exactly that and
// ccprof crashed in strlen. Every libdw/libelf error text goes through here.
#include <elfutils/libdwfl.h>

#include <string>

namespace ccprof::profiler {

// The text of libdwfl error `err` (-1: the last one, which it also clears).
inline std::string libdw_error_text(int err = -1) {
  const char* m = dwfl_errmsg(err);
  return m && *m ? std::string(m) : std::string("unknown libdw error");
}

}  // namespace ccprof::profiler
