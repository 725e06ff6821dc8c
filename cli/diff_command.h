#pragma once
// `ccprof diff BEFORE AFTER [-o DIR] [--fail-on-regression]`.
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace ccprof::cli {

struct DiffCommand {
  CLI::App* sub = nullptr;
  std::string before, after;  // each a recording, an output folder or a findings.json
  std::string out_dir;        // "" = do not write diff.json
  bool fail_on_regression = false;
};

void register_diff_command(CLI::App& app, DiffCommand& cmd);
// Prints the table, writes DIR/diff.json when asked, returns the diff document.
absl::StatusOr<nlohmann::json> run_diff(const DiffCommand& cmd);

// The findings document of a recording file, an output folder (its findings.json, else
// its recording) or a findings.json file.
absl::StatusOr<nlohmann::json> load_findings(const std::string& path);

}  // namespace ccprof::cli
