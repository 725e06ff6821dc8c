// libFuzzer harness: a recording's payload -> load_recording -> analysis -> every
// renderer. The header (magic, version, length, CRC) is fixed up around the input, as an
// attacker would, so mutations reach the CBOR decoder and the analysis instead of
// stopping at the checksum. Built with -DCCPROF_FUZZ=ON (clang), see tests/fuzz/README.md.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "profiler/analysis.h"
#include "model/recording.h"
#include "report/findings_json.h"
#include "report/html_report.h"
#include "report/terminal.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ccprof;
  const std::string file = model::recording_file_bytes(
      model::Recording::kFormatVersion, std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string& path = ccprof::fuzz::scratch_path("recording");
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(file.data(), 1, file.size(), f);
  std::fclose(f);
  auto rec = model::load_recording(path);
  unlink(path.c_str());  // read whole; nothing is left behind when the run ends
  if (!rec.ok()) return 0;
  try {
    // What `ccprof report` does with a recording that loaded (report/outputs.cc).
    nlohmann::json doc = report::build_findings_document(*rec, profiler::analyze(*rec));
    (void)report::findings_json_text(doc);
    (void)report::render_terminal_summary(doc, "/out");
    (void)report::fill_html_template(report::html_report_template(), doc);
  } catch (const std::exception&) {
    // write_outputs turns these into an error message; only crashes count here.
  }
  return 0;
}
