#include "report/html_report.h"
#include "report/findings_json.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ccprof::report {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kOpen = R"(<script id="ccprof-data" type="application/json">)";

// The text of the data block: what the browser hands to JSON.parse.
std::string data_block(const std::string& page) {
  const size_t open = page.find(kOpen);
  if (open == std::string::npos) return "";
  const size_t body = open + kOpen.size();
  return page.substr(body, page.find("</script>", body) - body);
}

size_t count(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

nlohmann::json findings_with_symbol(const std::string& symbol) {
  return {{"schema_version", 1},
          {"target", {{"command", {"./t", symbol}}, {"comm", symbol}}},
          {"findings", {{{"rank", 1}, {"kind", "lock-contention"}, {"title", symbol}, {"explanation", symbol},
                         {"locations", {{{"function", symbol}, {"file", "/src/" + symbol + ".cc"}, {"line", 3}}}}}}},
          {"stacks", {{{"lock", "0x1"}, {"frames", {"main", symbol}}, {"wait_s", 0.5}, {"count", 2}}}}};
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "html_report_test.XXXXXX").string();
    path_ = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(HtmlReportTemplate, HasExactlyOneDataBlockHoldingDemoFindings) {
  const std::string page(html_report_template());
  EXPECT_EQ(count(page, kOpen), 1u);
  const auto demo = nlohmann::json::parse(data_block(page), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(demo.is_discarded()) << "the demo JSON in report/assets/report.html does not parse";
  EXPECT_EQ(demo.value("schema_version", 0), kSchemaVersion);
  // The page draws the schema findings.json is written in; a mismatch puts a warning on
  // every real report.
  EXPECT_THAT(page, ::testing::HasSubstr("const SCHEMA_VERSION = " + std::to_string(kSchemaVersion) + ";"));
  EXPECT_FALSE(demo["findings"].empty());
}

TEST(HtmlReportTemplate, PageIsSelfContainedAndNeverParsesDataAsMarkup) {
  std::string page(html_report_template());
  // The SVG namespace is a name, not a fetch.
  for (size_t at; (at = page.find("http://www.w3.org/2000/svg")) != std::string::npos;) page.erase(at, 26);
  for (const char* banned : {"http://", "https://", "<link", " src=", "@import", "url(", "fetch(", "XMLHttpRequest",
                             "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("}) {
    EXPECT_EQ(page.find(banned), std::string::npos) << "report.html contains " << banned;
  }
}

TEST(HtmlReport, EmbedsFindingsThatParseBackUnchanged) {
  const nlohmann::json f = findings_with_symbol("std::map<int, std::vector<char>>::operator[] && more");
  const std::string page = render_html_report(f);
  EXPECT_EQ(nlohmann::json::parse(data_block(page)), f);
  // Only the data block changed: the page around it is the template's.
  const std::string tmpl(html_report_template());
  EXPECT_EQ(page.substr(0, page.find(kOpen)), tmpl.substr(0, tmpl.find(kOpen)));
  EXPECT_EQ(count(page, "</script>"), count(tmpl, "</script>"));
}

TEST(HtmlReport, ScriptCloseInSymbolStaysInsideDataBlock) {
  const std::string evil = "</script><script>alert(1)</script><!--";
  const nlohmann::json f = findings_with_symbol(evil);
  const std::string page = render_html_report(f);
  EXPECT_THAT(page, Not(HasSubstr("alert(1)</script>")));
  EXPECT_THAT(page, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(page, Not(HasSubstr("<!--\"")));
  // Same number of script elements as the template: nothing broke out.
  EXPECT_EQ(count(page, "<script"), count(std::string(html_report_template()), "<script"));
  EXPECT_EQ(count(page, "</script>"), count(std::string(html_report_template()), "</script>"));
  const std::string block = data_block(page);
  EXPECT_THAT(block, HasSubstr("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));
  EXPECT_EQ(nlohmann::json::parse(block), f);
}

TEST(HtmlReport, EscapesAmpersandAndJavaScriptLineTerminators) {
  const std::string s = "a&b \xE2\x80\xA8 c \xE2\x80\xA9 d >";
  const std::string out = json_for_html_script(nlohmann::json{{"s", s}});
  EXPECT_EQ(out, R"({"s":"a\u0026b \u2028 c \u2029 d \u003e"})");
  EXPECT_EQ(nlohmann::json::parse(out)["s"], s);
}

TEST(HtmlReport, InvalidUtf8FromTheTargetIsReplacedNotThrown) {
  const nlohmann::json f = findings_with_symbol(std::string("bad\xFF\xFEname"));
  std::string page;
  EXPECT_NO_THROW(page = render_html_report(f));
  const auto back = nlohmann::json::parse(data_block(page));
  EXPECT_EQ(back["target"]["comm"], "bad\xEF\xBF\xBD\xEF\xBF\xBDname");
}

TEST(HtmlReport, FillFailsClearlyWithoutDataBlock) {
  auto r = fill_html_template("<html><body>no block</body></html>", nlohmann::json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("data block"));
  r = fill_html_template(std::string(kOpen) + "{}", nlohmann::json::object());
  EXPECT_FALSE(r.ok());
}

TEST(WriteHtmlReport, WritesWholePageAndLeavesNoTemporary) {
  TempDir dir;
  const fs::path out = dir.path() / "report.html";
  const nlohmann::json f = findings_with_symbol("work(int)");
  ASSERT_TRUE(write_html_report(f, out.string()).ok());
  EXPECT_EQ(read_file(out), render_html_report(f));
  EXPECT_EQ((fs::status(out).permissions() & fs::perms::others_read), fs::perms::others_read);
  // Overwrite: the new page replaces the old one whole.
  const nlohmann::json g = findings_with_symbol("other(long)");
  ASSERT_TRUE(write_html_report(g, out.string()).ok());
  EXPECT_EQ(read_file(out), render_html_report(g));
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().filename(), "report.html");
  }
  EXPECT_EQ(files, 1u);
}

TEST(WriteHtmlReport, FailedRenameKeepsWhatWasThereAndCleansUp) {
  TempDir dir;
  // A non-empty directory where the report should go: rename must fail.
  const fs::path out = dir.path() / "report.html";
  fs::create_directory(out);
  std::ofstream(out / "keep") << "kept";
  const absl::Status s = write_html_report(findings_with_symbol("x"), out.string());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(out.string()));
  EXPECT_EQ(read_file(out / "keep"), "kept");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u) << "a temporary file was left behind";
}

TEST(WriteHtmlReport, UnwritablePathIsAClearError) {
  // Paths even root cannot create (the tests may run as root, so no chmod tricks).
  for (const std::string path : {"/nonexistent-ccprof-dir/report.html", "/proc/self/report.html", "/etc/hostname/report.html"}) {
    const absl::Status s = write_html_report(findings_with_symbol("x"), path);
    EXPECT_FALSE(s.ok()) << path;
    EXPECT_THAT(s.message(), HasSubstr("cannot write report " + path)) << s;
    EXPECT_FALSE(fs::exists(path));
  }
}

}  // namespace
}  // namespace ccprof::report
