// Escape sequences from the target (argv, executable path, symbol and file names) or
// from a recording reach the terminal summary, the logs and the error messages as
// visible text: a clear-screen or window-title sequence is shown, never executed.
#include <gtest/gtest.h>

#include <sstream>

#include "model/printable.h"
#include "profiler/printable_log.h"
#include "report/findings_json.h"
#include "report/terminal.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace ccprof::report {
namespace {

const std::string kClear = "\x1b[2J\x1b[H";
const std::string kTitle = "\x1b]0;owned\x07";

// Only the summary's own line breaks may remain; no other control byte.
void expect_no_control_bytes(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    EXPECT_FALSE((c < 0x20 && c != '\n') || c == 0x7f) << "byte " << int(c) << " at " << i << " in:\n" << text;
  }
}

TEST(TerminalEscapes, ArgvExeNamesAndPathsAreShownNotExecuted) {
  profiler::Recording rec;
  rec.mode = "run";
  rec.command = {"./w" + kClear, "--name=" + kTitle, "multi\nline"};
  profiler::ProcessInfo p;
  p.pid = 7;
  p.comm = "w" + kTitle;
  p.exe = "/tmp/" + kClear + "w";
  p.cmdline = rec.command;
  rec.processes.push_back(p);
  profiler::Analysis a;
  profiler::Finding f;
  f.kind = "lock-contention";
  f.title = "Threads serialise on g_" + kTitle;
  f.explanation = "waited in fn" + kClear;
  f.remedy.kind = "shard";
  f.remedy.text = "shard " + kClear;
  profiler::SourceLocation l;
  l.function = "count" + kClear;
  l.file = "/src/" + kTitle + ".cc";
  l.line = 3;
  f.locations.push_back(l);
  a.findings.push_back(f);
  a.tables["losses"] = {{"futex." + kClear, 2}};
  nlohmann::json doc = build_findings_document(rec, a, false);
  const std::string text = render_terminal_summary(doc, "/tmp/out" + kClear);
  expect_no_control_bytes(text);
  EXPECT_NE(text.find("./w\\x1b[2J\\x1b[H --name=\\x1b]0;owned\\x07 multi\\nline"), std::string::npos) << text;
  EXPECT_NE(text.find("count\\x1b[2J"), std::string::npos) << text;
  EXPECT_NE(text.find("Threads serialise on g_\\x1b]0;owned\\x07"), std::string::npos) << text;
  EXPECT_NE(text.find("/tmp/out\\x1b[2J\\x1b[H/findings.json"), std::string::npos) << text;
}

TEST(TerminalEscapes, LogLinesAreMadePrintable) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log("t", sink);
  log.set_formatter(profiler::printable_log_formatter("ccprof: %l: %*"));
  log.warn("cannot read {}: {}", "/tmp/" + kClear + "lib.so", "bad ELF" + kTitle);
  const std::string line = out.str();
  ASSERT_FALSE(line.empty());
  ASSERT_EQ(line.back(), '\n');
  expect_no_control_bytes(line);
  EXPECT_EQ(line, "ccprof: warning: cannot read /tmp/\\x1b[2J\\x1b[Hlib.so: bad ELF\\x1b]0;owned\\x07\n");
}

// The header says why the memory sampler's rate was lowered: the reason its changes
// carry, not always the budget.
TEST(TerminalSummary, SaysWhyTheSamplerRateWasLowered) {
  auto header = [](std::vector<std::string> whys) {
    nlohmann::json changes = nlohmann::json::array();
    for (const auto& w : whys) changes.push_back({{"at_s", 3.0}, {"hz", 250}, {"why", w}});
    nlohmann::json doc = nlohmann::json::object();
    doc["target"] = {{"command", nlohmann::json::array({"./w"})}, {"pid", 7}};
    doc["profile"]["memory_sampler"] = {{"mode", "decode"},          {"events", nlohmann::json::array({"cpu-clock"})},
                                        {"frequency_hz", 250},       {"requested_hz", 499},
                                        {"budget_percent", 1.5},     {"rate_changes", changes}};
    doc["samples"] = nlohmann::json::object();
    doc["losses"] = nlohmann::json::array();
    doc["findings"] = nlohmann::json::array();
    const std::string text = render_terminal_summary(doc, "/tmp/out");
    return text.substr(0, text.find('\n'));
  };
  const std::string budget = header({"over budget"});
  EXPECT_NE(budget.find("decode on a timer, 250 Hz (lowered from 499 Hz: over its 1.5% CPU budget)"),
            std::string::npos) << budget;
  const std::string drain = header({"drain thread busy"});
  EXPECT_NE(drain.find("(lowered from 499 Hz: its drain thread busy over half the time)"), std::string::npos) << drain;
  EXPECT_EQ(drain.find("budget"), std::string::npos) << drain;
  const std::string both = header({"drain thread busy", "over budget"});
  EXPECT_NE(both.find("over its 1.5% CPU budget; its drain thread busy"), std::string::npos) << both;
}

}  // namespace
}  // namespace ccprof::report
