#pragma once
// `ccprof export RECORDING --format pprof|collapsed|chrome-trace [--profile P] -o FILE`.
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "report/export.h"

namespace ccprof::cli {

struct ExportCommand {
  CLI::App* sub = nullptr;
  std::string recording;  // a recording file, or an output folder that holds one
  report::ExportOptions opts;
};

void register_export_command(CLI::App& app, ExportCommand& cmd);
absl::Status run_export(const ExportCommand& cmd);

// A recording path from what the user typed: the file itself, or DIR/recording.ccprof.
std::string recording_path_of(const std::string& path_or_dir);

}  // namespace ccprof::cli
