#include "report/terminal.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "model/printable.h"

namespace ccprof::report {
namespace {

using nlohmann::json;
using model::printable;

// A column of the findings table: header, width, and how a finding renders in it.
struct Column {
  const char* header;
  size_t width;
  std::function<std::string(const json&)> render;
};

std::string short_file(const std::string& f) {
  auto s = f.rfind('/');
  return s == std::string::npos ? f : f.substr(s + 1);
}

std::string where(const json& f) {
  const auto& locs = f.value("locations", json::array());
  if (locs.empty()) return "-";
  const auto& l = locs[0];
  std::string fn = printable(l.value("function", ""));
  std::string file = printable(l.value("file", ""));
  if (file.empty()) return fn;
  return absl::StrFormat("%s %s:%d", fn, short_file(file), l.value("line", 0));
}

std::string fit(std::string s, size_t w) {
  if (s.size() <= w) return s + std::string(w - s.size(), ' ');
  return s.substr(0, w - 1) + "~";
}

const std::vector<Column>& columns() {
  static const std::vector<Column> cols = {
      {"#", 2, [](const json& f) { return std::to_string(f.value("rank", 0)); }},
      {"kind", 26, [](const json& f) { return printable(f.value("kind", "")); }},
      {"cost", 20,
       [](const json& f) {
         const auto& c = f["cost"];
         return absl::StrFormat("%.2f thr-s (%.0f%%)", c.value("thread_seconds", 0.0), c.value("share", 0.0) * 100);
       }},
      {"where", 44, where},
      {"remedy", 22, [](const json& f) { return printable(f["remedy"].value("kind", "")); }},
  };
  return cols;
}

}  // namespace

std::string render_terminal_summary(const json& doc, const std::string& out_dir) {
  std::string out;
  const auto& t = doc["target"];
  const auto& p = doc["profile"];
  // The command line, the names and the paths below come from the target (or from a
  // recording someone sent): control characters in them are shown, not executed.
  std::vector<std::string> cmd;
  for (const auto& a : t.value("command", std::vector<std::string>{})) cmd.push_back(printable(a));
  // The sampler's mode, and in decode mode its clock: "decode on the scheduler tick, 250 Hz".
  const json& ms = p["memory_sampler"];
  std::string sampler = ms.value("mode", "off");
  const auto events = ms.value("events", std::vector<std::string>{});
  if (sampler == "decode" && !events.empty())
    sampler += absl::StrFormat(" %s, %d Hz", events[0] == "sched-tick" ? "on the scheduler tick" : "on a timer",
                               ms.value("frequency_hz", 0));
  // Lowered: said, with the rate asked for and why (its CPU budget, or a drain thread
  // that would fall behind; the changes' own reasons, not a guess).
  if (sampler.rfind("decode", 0) == 0 && ms.value("requested_hz", 0) > ms.value("frequency_hz", 0)) {
    bool over_budget = false, drain_busy = false;
    for (const auto& c : ms.value("rate_changes", json::array())) {
      const std::string why = c.value("why", "");
      over_budget |= why == "over budget";
      drain_busy |= why == "drain thread busy";
    }
    std::vector<std::string> whys;
    if (over_budget || !drain_busy)
      whys.push_back(absl::StrFormat("over its %g%% CPU budget", ms.value("budget_percent", 0.0)));
    if (drain_busy) whys.push_back("its drain thread busy over half the time");
    sampler += absl::StrFormat(" (lowered from %d Hz: %s)", ms.value("requested_hz", 0), absl::StrJoin(whys, "; "));
  }
  out += absl::StrFormat("ccprof: %s  (pid %d, %.2f s, %d threads, %.2f thread-s, memory sampler: %s)\n",
                         absl::StrJoin(cmd, " "), t.value("pid", 0), p.value("duration_s", 0.0),
                         p.value("threads", 0), p.value("thread_seconds", 0.0), sampler);
  if (const auto& m = p.value("cost_mode", json::object()); m.value("name", "default") != "default") {
    out += absl::StrFormat("mode: %s; it gives up:\n", printable(m.value("name", "")));
    for (const auto& g : m.value("gives_up", std::vector<std::string>{})) out += "  - " + printable(g) + "\n";
  }
  const auto& s = doc["samples"];
  out += absl::StrFormat("evidence: %d futex waits, %d of %d stack copies unwound\n", s.value("futex_waits", 0),
                         s.value("stacks_unwound", 0), s.value("stack_copies", 0));
  std::vector<std::string> losses;
  for (const auto& l : doc.value("losses", json::array()))
    if (l.value("count", 0) > 0) losses.push_back(absl::StrFormat("%s=%d", printable(l.value("what", "")), l.value("count", 0)));
  out += "losses: " + (losses.empty() ? std::string("none") : absl::StrJoin(losses, ", ")) + "\n\n";

  const auto& findings = doc.value("findings", json::array());
  if (findings.empty()) {
    out += "No findings: no thread lost a material share of its time to another.\n";
  } else {
    std::string header, rule;
    for (const auto& c : columns()) {
      header += fit(c.header, c.width) + "  ";
      rule += std::string(c.width, '-') + "  ";
    }
    out += header + "\n" + rule + "\n";
    for (const auto& f : findings) {
      std::string row;
      for (const auto& c : columns()) row += fit(c.render(f), c.width) + "  ";
      while (!row.empty() && row.back() == ' ') row.pop_back();
      out += row + "\n";
    }
    // Each finding's why, in its own numbers (wait share, pool size, rates, growth).
    for (const auto& f : findings) {
      out += absl::StrFormat("\n#%d %s\n  %s\n  -> %s\n", f.value("rank", 0), printable(f.value("title", "")),
                             printable(f.value("explanation", "")), printable(f["remedy"].value("text", "")));
    }
  }
  if (!out_dir.empty()) {
    const std::string dir = printable(out_dir);
    out += absl::StrFormat("\noutputs: %s/findings.json, %s/report.html, %s/recording.ccprof\n", dir, dir, dir);
  }
  return out;
}

}  // namespace ccprof::report
