#include "cli/export_command.h"

#include <sys/stat.h>

#include <cstdio>

#include "report/outputs.h"

namespace ccprof::cli {

std::string recording_path_of(const std::string& p) {
  struct stat st {};
  if (stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return p + "/" + report::kRecordingFile;
  return p;
}

void register_export_command(CLI::App& app, ExportCommand& cmd) {
  cmd.sub = app.add_subcommand("export", "write a recording as a pprof profile, folded stacks or a Chrome/Perfetto "
                                         "trace");
  cmd.sub->add_option("recording", cmd.recording, "a recording.ccprof file, or the output folder that holds it")
      ->required();
  cmd.sub->add_option("--format", cmd.opts.format, "pprof, collapsed or chrome-trace")->capture_default_str();
  cmd.sub->add_option("--profile", cmd.opts.profile, "for pprof and collapsed: contention, offcpu or memory")
      ->capture_default_str();
  cmd.sub->add_option("-o,--output", cmd.opts.out_path, "the file to write")->required();
}

absl::Status run_export(const ExportCommand& cmd) {
  auto rec = model::load_recording(recording_path_of(cmd.recording));
  if (!rec.ok()) return rec.status();
  if (auto s = report::export_recording(*rec, cmd.opts); !s.ok()) return s;
  std::fprintf(stdout, "ccprof: wrote %s (%s%s)\n", cmd.opts.out_path.c_str(), cmd.opts.format.c_str(),
               cmd.opts.format == "chrome-trace" ? "" : (", " + cmd.opts.profile).c_str());
  return absl::OkStatus();
}

}  // namespace ccprof::cli
