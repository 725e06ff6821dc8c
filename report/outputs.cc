#include "report/outputs.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "profiler/analysis.h"
#include "profiler/recording_file.h"
#include "report/findings_json.h"
#include "report/html_report.h"
#include "report/output_set.h"

namespace ccprof::report {

absl::StatusOr<nlohmann::json> write_outputs(const profiler::Recording& rec, const std::string& out_dir,
                                             bool write_recording) {
  if (auto s = prepare_output_dir(out_dir); !s.ok()) return s;
  nlohmann::json doc;
  try {
    doc = build_findings_document(rec, profiler::analyze(rec));
  } catch (const std::exception& e) {
    // A malformed section of a recording (or a bug) must not abort ccprof. A live
    // profile's recording is still kept, alone, so that it can be re-analysed.
    std::string kept;
    if (write_recording &&
        write_output_set(out_dir, {{kRecordingFile, profiler::encode_recording(rec), "recording"}}).ok())
      kept = absl::StrCat("; the recording was saved as ", out_dir, "/", kRecordingFile);
    return absl::DataLossError(absl::StrCat("cannot analyse the recording: ", e.what(), kept));
  }
  // All made in memory first, then written as one set (output_set.h).
  std::vector<OutputFile> files;
  if (write_recording) files.push_back({kRecordingFile, profiler::encode_recording(rec), "recording"});
  files.push_back({"findings.json", findings_json_text(doc), "findings"});
  auto page = fill_html_template(html_report_template(), doc);
  if (!page.ok()) return absl::Status(page.status().code(), absl::StrCat("cannot render report.html: ", page.status().message()));
  files.push_back({"report.html", *std::move(page), "report"});
  if (auto s = write_output_set(out_dir, files); !s.ok()) return s;
  return doc;
}

}  // namespace ccprof::report
