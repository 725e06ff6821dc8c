#include "cli/diff_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "profiler/analysis.h"
#include "model/atomic_file.h"
#include "model/recording.h"
#include "report/diff.h"
#include "report/findings_json.h"
#include "report/outputs.h"

namespace ccprof::cli {
namespace fs = std::filesystem;

void register_diff_command(CLI::App& app, DiffCommand& cmd) {
  cmd.sub = app.add_subcommand("diff", "compare two profiles: which findings were fixed, improved, unchanged, "
                                       "regressed or new");
  cmd.sub->add_option("before", cmd.before, "a recording, an output folder or a findings.json")->required();
  cmd.sub->add_option("after", cmd.after, "the same, after the change")->required();
  cmd.sub->add_option("-o,--output", cmd.out_dir, "write DIR/diff.json");
  cmd.sub->add_flag("--fail-on-regression", cmd.fail_on_regression,
                    "exit 3 when a finding is new or regressed beyond the noise band");
}

absl::StatusOr<nlohmann::json> load_findings(const std::string& path) {
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path + "/findings.json", ec)) file = path + "/findings.json";
    else if (fs::exists(path + "/" + report::kRecordingFile, ec)) file = path + "/" + report::kRecordingFile;
    else return absl::NotFoundError(path + " holds neither findings.json nor " + report::kRecordingFile);
  } else if (!fs::exists(path, ec)) {
    return absl::NotFoundError(path + ": no such file or folder");
  }
  if (absl::EndsWith(file, ".json")) {
    std::ifstream in(file);
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("findings") || !doc["findings"].is_array())
      return absl::InvalidArgumentError(file + " is not a ccprof findings.json (no findings array)");
    return doc;
  }
  auto rec = model::load_recording(file);
  if (!rec.ok()) return rec.status();
  return report::build_findings_document(*rec, profiler::analyze(*rec), /*snippets=*/false);
}

absl::StatusOr<nlohmann::json> run_diff(const DiffCommand& cmd) {
  auto before = load_findings(cmd.before);
  if (!before.ok()) return before.status();
  auto after = load_findings(cmd.after);
  if (!after.ok()) return after.status();
  nlohmann::json diff;
  try {
    diff = report::diff_findings(*before, *after, cmd.before, cmd.after);
  } catch (const nlohmann::json::exception& e) {
    // A findings.json edited by hand, with a field of the wrong type.
    return absl::InvalidArgumentError(std::string("malformed findings document: ") + e.what());
  }
  if (!cmd.out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(cmd.out_dir, ec);
    if (ec) return absl::InternalError("cannot create output folder " + cmd.out_dir + ": " + ec.message());
    if (auto s = model::write_file_atomically(cmd.out_dir + "/diff.json", diff.dump(2) + "\n", "diff"); !s.ok())
      return s;
  }
  std::fputs(report::render_diff_table(diff).c_str(), stdout);
  if (!cmd.out_dir.empty()) std::printf("wrote %s/diff.json\n", cmd.out_dir.c_str());
  std::fflush(stdout);
  return diff;
}

}  // namespace ccprof::cli
