#pragma once
// Names a data address the way a developer wrote it: the global or static variable
// plus the member path from its DWARF type, `g_counters[3]`, `g_stats.requests`,
// `g_padded[2].value`.
#include <cstdint>
#include <string>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {

// The member path of `addr` inside the global/static variable that holds it, or ""
// when the address is not in such a variable or the module has no DWARF for it.
std::string data_member_name(Symbolizer& sym, uint64_t addr);

// data_member_name() when it has one, else the symbol (+offset), else the region:
// "heap", "stack of thread 4243", "TLS of thread 4243", "anonymous mapping ...".
std::string describe_data(Symbolizer& sym, uint64_t addr);

}  // namespace ccprof::profiler
