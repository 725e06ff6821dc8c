#include "report/outputs.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "report/findings_json.h"
#include "report/html_report.h"
#include "report/output_set.h"
#include "report/scaling_svg.h"

namespace ccprof::report {

absl::Status write_outputs(const nlohmann::json& doc, const std::string* recording_file, const std::string& out_dir) {
  if (auto s = prepare_output_dir(out_dir); !s.ok()) return s;
  // All made in memory first, then written as one set (output_set.h).
  std::vector<OutputFile> files;
  if (recording_file) files.push_back({kRecordingFile, *recording_file, "recording"});
  // The two serialisations of a big document (MBs each) on two threads.
  auto html = std::async(std::launch::async, [&doc] { return fill_html_template(html_report_template(), doc); });
  files.push_back({"findings.json", findings_json_text(doc), "findings"});
  auto page = html.get();
  if (!page.ok())
    return absl::Status(page.status().code(), absl::StrCat("cannot render report.html: ", page.status().message()));
  files.push_back({"report.html", *std::move(page), "report"});
  if (doc.contains("scale")) files.push_back({kScalingSvgFile, render_scaling_svg(doc["scale"]), "scaling chart"});
  return write_output_set(out_dir, files);
}

absl::Status write_recording_alone(std::string recording_file, const std::string& out_dir) {
  return write_output_set(out_dir, {{kRecordingFile, std::move(recording_file), "recording"}});
}

}  // namespace ccprof::report
