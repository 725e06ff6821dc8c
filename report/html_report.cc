#include "report/html_report.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <absl/strings/str_cat.h>
#include <spdlog/spdlog.h>

// Generated from report/assets/report.html by report/assets/embed_asset.cmake.
namespace ccprof::report::assets {
extern const char kReportHtml[];
extern const std::size_t kReportHtmlSize;
}  // namespace ccprof::report::assets

namespace ccprof::report {
namespace {

// The block the page reads its findings from; the page's own script never
// spells this opening tag, so the first match is the data block.
constexpr std::string_view kDataOpen = R"(<script id="ccprof-data" type="application/json">)";
constexpr std::string_view kScriptClose = "</script>";

// "WHAT: strerror(err)", with the status code that matches err.
absl::Status errno_status(int err, const std::string& what) {
  return absl::ErrnoToStatus(err, what);
}

// Writes all of `data` to `fd`, retrying short writes and EINTR.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string_view html_report_template() {
  return {assets::kReportHtml, assets::kReportHtmlSize};
}

std::string json_for_html_script(const nlohmann::json& findings) {
  const std::string raw = findings.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(raw.size() + raw.size() / 16);
  for (size_t i = 0; i < raw.size(); ++i) {
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
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // Same folder as the target, so the rename below stays within one filesystem.
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    return errno_status(errno, absl::StrCat("cannot write report ", path, ": cannot create a temporary file in ", dir.string()));
  }
  auto fail = [&](int err, const std::string& step) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return errno_status(err, absl::StrCat("cannot write report ", path, ": ", step));
  };
  // mkstemp makes 0600; a report is meant to be read by others, like any output file.
  if (::fchmod(fd, 0644) != 0) return fail(errno, "cannot set the temporary file's mode");
  if (!write_all(fd, *page)) return fail(errno, absl::StrCat("cannot write ", tmp));
  if (::fsync(fd) != 0) return fail(errno, absl::StrCat("cannot flush ", tmp));
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return errno_status(err, absl::StrCat("cannot write report ", path, ": cannot close ", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return errno_status(err, absl::StrCat("cannot write report ", path, ": cannot rename ", tmp, " to it"));
  }
  // Make the rename itself durable; failing here changes nothing the reader sees.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace ccprof::report
