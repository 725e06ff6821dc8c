#pragma once
// The terminal summary: a few header lines and the findings table
// (rank, kind, cost, where, remedy), rendered from findings.json.
#include <string>

#include <nlohmann/json.hpp>

namespace ccprof::report {

std::string render_terminal_summary(const nlohmann::json& doc, const std::string& out_dir);

}  // namespace ccprof::report
