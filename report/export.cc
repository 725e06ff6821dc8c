#include "report/export.h"

#include "profiler/analysis.h"
#include "model/atomic_file.h"
#include "report/export_collapsed.h"
#include "report/export_pprof.h"
#include "report/export_profile.h"
#include "report/export_trace.h"

namespace ccprof::report {

absl::Status export_recording(const model::Recording& rec, const ExportOptions& opts) {
  if (opts.format != "pprof" && opts.format != "collapsed" && opts.format != "chrome-trace")
    return absl::InvalidArgumentError("--format must be pprof, collapsed or chrome-trace, not '" + opts.format + "'");
  if (opts.profile != "contention" && opts.profile != "offcpu" && opts.profile != "memory")
    return absl::InvalidArgumentError("--profile must be contention, offcpu or memory, not '" + opts.profile + "'");
  if (opts.out_path.empty()) return absl::InvalidArgumentError("-o FILE is required");

  auto index = profiler::build_index(rec);
  const profiler::Index& ctx = *index;
  if (opts.format == "chrome-trace")
    return model::write_file_atomically(opts.out_path, render_chrome_trace(ctx).dump() + "\n", "trace");

  ExportProfile profile;
  if (opts.profile == "offcpu") {
    auto p = build_offcpu_profile(ctx);
    if (!p.ok())
      return absl::FailedPreconditionError("no off-CPU profile: the recording has no scheduler data (" +
                                           std::string(p.status().message()) + ")");
    profile = std::move(*p);
  } else if (opts.profile == "memory") {
    profile = build_memory_profile(ctx);
  } else {
    profile = build_contention_profile(ctx);
  }
  if (opts.format == "collapsed")
    return model::write_file_atomically(opts.out_path, render_collapsed(profile), "folded stacks");
  auto gz = gzip_bytes(encode_pprof(profile, rec));
  if (!gz.ok()) return gz.status();
  return model::write_file_atomically(opts.out_path, *gz, "pprof profile");
}

}  // namespace ccprof::report
