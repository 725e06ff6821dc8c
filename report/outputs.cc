#include "report/outputs.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "profiler/analysis.h"
#include "report/findings_json.h"
#include "report/html_report.h"

namespace ccprof::report {

absl::StatusOr<nlohmann::json> write_outputs(const profiler::Recording& rec, const std::string& out_dir,
                                             bool write_recording) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create output folder ", out_dir, ": ", ec.message()));
  if (write_recording) {
    if (auto s = profiler::save_recording(rec, out_dir + "/" + kRecordingFile); !s.ok()) return s;
  }
  profiler::Analysis analysis = profiler::analyze(rec);
  nlohmann::json doc = build_findings_document(rec, analysis);
  if (auto s = write_findings_json(doc, out_dir + "/findings.json"); !s.ok()) return s;
  if (auto s = write_html_report(doc, out_dir + "/report.html"); !s.ok()) return s;
  return doc;
}

}  // namespace ccprof::report
