#pragma once
// The file offset of a function in a shared library, for attaching a uprobe to it.
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ccprof::agent {

// The default version of `name` in `path`'s dynamic symbol table (glibc exports
// pthread_cond_wait twice, @GLIBC_2.2.5 and @@GLIBC_2.3.2: the one a program linked
// today calls), as an offset in the file. libbpf 1.1 refuses such names as ambiguous.
absl::StatusOr<uint64_t> default_function_offset(const std::string& path, const std::string& name);

// A symbol of `path`'s dynamic symbol table (a variable such as CPython's _PyRuntime):
// its run-time address is `value` in a fixed-address executable, and load base +
// value - first_load_vaddr in a position-independent object (load base: the start of
// the object's mapping at file offset 0).
struct ExportedSymbol {
  uint64_t value = 0, size = 0;
  bool position_independent = false;
  uint64_t first_load_vaddr = 0;  // page-aligned p_vaddr of the first PT_LOAD
};
absl::StatusOr<ExportedSymbol> exported_symbol(const std::string& path, const std::string& name);

}  // namespace ccprof::agent
