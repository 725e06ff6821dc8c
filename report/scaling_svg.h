#pragma once
// scaling.svg: `ccprof scale`'s plot, drawn from findings.json's "scale" table:
// throughput per thread count (every run and the median), the fitted USL curve,
// the fitted peak and, when one was found, the retrograde region.
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace ccprof::report {

inline constexpr const char* kScalingSvgFile = "scaling.svg";

// A standalone SVG document (no scripts, no external resources).
std::string render_scaling_svg(const nlohmann::json& scale_table);

absl::Status write_scaling_svg(const nlohmann::json& scale_table, const std::string& path);

}  // namespace ccprof::report
