#pragma once
// Demangling of C++ (Itanium) and Rust (legacy and v0) symbol names with libiberty's
// demangler (the one binutils and GDB use), for every name ccprof shows or exports.
#include <string>
#include <string_view>

namespace ccprof::profiler {

// The demangled name, with parameter lists (C++) and without Rust's legacy hash
// suffix; `name` unchanged when it is not a mangled C++ or Rust name. Only names with
// a mangling prefix (_Z, _R) are decoded: a C function named `w` stays `w` (the
// Itanium grammar would read a bare `w` as the type wchar_t).
std::string demangle(std::string_view name);

}  // namespace ccprof::profiler
