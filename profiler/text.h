#pragma once
// How findings write numbers, addresses and places: one definition of each, shared by
// every rule so the same thing always reads the same way.
#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

// 0.237 -> "24%"
std::string pct(double share);
// "0x55d1c0a040a0"
std::string hex_address(uint64_t a);
// "/src/app/log.cc" -> "log.cc"
std::string short_file(const std::string& path);
// "flush_locked (log.cc:212)"; the function alone without a line; "module+0x1a2b" when
// even the function is unknown (a stripped binary).
std::string site_text(const CodeLocation& loc);
// The same source place: file, line and function where there is a line, otherwise the
// same function in the same module.
bool same_site(const CodeLocation& a, const CodeLocation& b);
// 11300000 -> "11.3M", 950 -> "950", 0.52 -> "0.52"; "-" when not finite.
std::string si_number(double x);
// {"function", "file", "line"} of a place, the start of every evidence row that names
// one; `more` adds the row's own fields.
nlohmann::json place_json(const CodeLocation& loc, nlohmann::json more = nlohmann::json::object());
// 4e-5 -> "40 µs", 0.0031 -> "3.1 ms", 8.5e-7 -> "850 ns", 1.24 -> "1.24 s"
std::string duration_text(double seconds);
// "1 thread", "4 threads"
std::string count_of(uint64_t n, const std::string& singular, const std::string& plural);

}  // namespace ccprof::profiler
