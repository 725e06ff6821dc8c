// report_fill FINDINGS.json OUT.html: fills report.html with a findings JSON
// through ccprof::report::write_html_report, the code path `ccprof` uses.
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "report/html_report.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s FINDINGS.json OUT.html\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "report_fill: cannot open %s\n", argv[1]);
    return 1;
  }
  const nlohmann::json findings = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (findings.is_discarded()) {
    std::fprintf(stderr, "report_fill: %s is not valid JSON\n", argv[1]);
    return 1;
  }
  const absl::Status status = ccprof::report::write_html_report(findings, argv[2]);
  if (!status.ok()) {
    std::fprintf(stderr, "report_fill: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
