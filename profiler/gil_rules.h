#pragma once
// gil-contention (scenario 9): threads of a CPython process waiting for the GIL.
// The rule is in gil_rule_family() (profiler/rule.h).
#include <vector>

#include <string>

namespace ccprof::profiler {

// Whether an object file is a CPython interpreter (python3.X or libpython3.X.so).
bool is_python_object(const std::string& path);

}  // namespace ccprof::profiler
