#include "report/html_report.h"

#include "model/atomic_file.h"

#include <cstdio>


#include <absl/strings/str_cat.h>
#include <spdlog/spdlog.h>

// Generated from report/assets/report.html by cmake/embed_text.cmake: report_html().
#include "report_embedded.h"

namespace ccprof::report {
namespace {

// The block the page reads its findings from; the page's own script never
// spells this opening tag, so the first match is the data block.
constexpr std::string_view kDataOpen = R"(<script id="ccprof-data" type="application/json">)";
constexpr std::string_view kScriptClose = "</script>";

}  // namespace

std::string_view html_report_template() {
  return report_html();
}

std::string json_for_html_script(const nlohmann::json& findings) {
  const std::string raw = findings.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(raw.size() + raw.size() / 16);
  // Runs without a character to escape are copied whole (a findings document is MBs).
  const std::string_view text = raw;
  for (size_t i = 0; i < raw.size(); ++i) {
    const size_t next = text.find_first_of("<>&\xE2", i);
    out.append(text.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i));
    if (next == std::string_view::npos) break;
    i = next;
    const char c = raw[i];
    // These characters only occur inside JSON strings, where \uXXXX means the same.
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else if (c == '\xE2' && i + 2 < raw.size() && raw[i + 1] == '\x80' && (raw[i + 2] == '\xA8' || raw[i + 2] == '\xA9')) {
      // U+2028 / U+2029: line terminators to JavaScript, kept out of the page.
      out += raw[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> fill_html_template(std::string_view page, const nlohmann::json& findings) {
  const size_t open = page.find(kDataOpen);
  if (open == std::string_view::npos) {
    return absl::InternalError("report template has no findings data block (<script id=\"ccprof-data\">)");
  }
  const size_t body = open + kDataOpen.size();
  const size_t close = page.find(kScriptClose, body);
  if (close == std::string_view::npos) {
    return absl::InternalError("report template's findings data block is not closed by </script>");
  }
  std::string out;
  const std::string json = json_for_html_script(findings);
  out.reserve(page.size() - (close - body) + json.size() + 2);
  out.append(page.substr(0, body));
  out += '\n';
  out += json;
  out += '\n';
  out.append(page.substr(close));
  return out;
}

std::string render_html_report(const nlohmann::json& findings) {
  absl::StatusOr<std::string> page = fill_html_template(html_report_template(), findings);
  if (!page.ok()) {
    spdlog::error("cannot render report.html: {}", page.status().ToString());
    return "";
  }
  return *std::move(page);
}

absl::Status write_html_report(const nlohmann::json& findings, const std::string& path) {
  absl::StatusOr<std::string> page = fill_html_template(html_report_template(), findings);
  if (!page.ok()) {
    return absl::Status(page.status().code(), absl::StrCat("cannot write report ", path, ": ", page.status().message()));
  }
  return model::write_file_atomically(path, *page, "report");
}

}  // namespace ccprof::report
