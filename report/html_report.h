#pragma once
// report.html: the page in report/assets/report.html (embedded at build time)
// filled with the findings JSON, which the page renders itself.
#include <string>
#include <string_view>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

namespace ccprof::report {

// The page as it is in the source tree, demo findings included.
std::string_view html_report_template();

// Serialises `findings` for embedding in a <script type="application/json">
// block: `<`, `>`, `&`, U+2028 and U+2029 become \uXXXX escapes (still valid
// JSON, identical once parsed), so no string from the target can close the
// block or open a comment; invalid UTF-8 from the target becomes U+FFFD.
std::string json_for_html_script(const nlohmann::json& findings);

// Replaces the JSON of the data block of `page` with `findings`.
absl::StatusOr<std::string> fill_html_template(std::string_view page, const nlohmann::json& findings);

// The embedded page filled with `findings`. The embedded page always has its
// data block (html_report_test checks it); if it did not, this returns "".
std::string render_html_report(const nlohmann::json& findings);

// Writes the filled page to `path` atomically: a temporary file in the same
// folder, flushed to disk, then renamed over `path`; a failure leaves no
// half-written file and no temporary behind.
absl::Status write_html_report(const nlohmann::json& findings, const std::string& path);

}  // namespace ccprof::report
