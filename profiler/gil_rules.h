#pragma once
// gil-contention (scenario 9): threads of a CPython process waiting for the GIL.
#include <vector>

#include "profiler/analysis.h"
#include "profiler/lock_table.h"

namespace ccprof::profiler {

// Whether an object file is a CPython interpreter (python3.X or libpython3.X.so).
bool is_python_object(const std::string& path);

std::vector<Finding> gil_rules(AnalysisContext& ctx, const std::vector<LockInfo>& locks);

}  // namespace ccprof::profiler
