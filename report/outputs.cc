#include "report/outputs.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "report/findings_json.h"
#include "report/html_report.h"
#include "report/scaling_svg.h"

namespace ccprof::report {

absl::Status write_outputs(const nlohmann::json& doc, const model::Recording* recording, const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create output folder ", out_dir, ": ", ec.message()));
  if (recording) {
    if (auto s = model::save_recording(*recording, out_dir + "/" + kRecordingFile); !s.ok()) return s;
  }
  if (auto s = write_findings_json(doc, out_dir + "/findings.json"); !s.ok()) return s;
  if (auto s = write_html_report(doc, out_dir + "/report.html"); !s.ok()) return s;
  if (doc.contains("scale")) {
    if (auto s = write_scaling_svg(doc["scale"], out_dir + "/" + kScalingSvgFile); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ccprof::report
