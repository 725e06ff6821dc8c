#include "report/metrics.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "report/diff.h"

namespace ccprof::report {
namespace {

using nlohmann::json;

struct Meta {
  const char* name;
  const char* type;
  const char* help;
};

// Every family, so HELP/TYPE lines exist even before the first window.
constexpr Meta kMetas[] = {
    {"ccprof_lock_wait_seconds_total", "counter", "Time threads waited for a lock (futex), by lock and call site"},
    {"ccprof_lock_waits_total", "counter", "Futex waits on a lock, by lock"},
    {"ccprof_offcpu_seconds_total", "counter", "Time the target's threads were off CPU, by reason"},
    {"ccprof_runqueue_delay_seconds_total", "counter", "Time runnable threads waited for a CPU"},
    {"ccprof_cacheline_samples_total", "counter",
     "Memory-access samples on the hottest cache lines, by line and access kind"},
    {"ccprof_losses_total", "counter", "Events ccprof dropped or could not resolve, by counter"},
    {"ccprof_windows_total", "counter", "Profiling windows completed"},
    {"ccprof_findings", "gauge", "Findings of the last window, by kind"},
    {"ccprof_finding_cost_thread_seconds", "gauge", "Cost of each finding of the last window, by kind and subject"},
    {"ccprof_window_seconds", "gauge", "Length of the last window"},
    {"ccprof_memory_sampler_hz", "gauge",
     "Memory-sampler rate per CPU in the last window (lowered below the rate asked for to keep its CPU budget)"},
    {"ccprof_memory_sampler_cpu_share", "gauge",
     "The memory sampler's estimated share of all CPUs over the last window (BPF, agent, timer interrupts)"},
    {"ccprof_target_up", "gauge", "1 while a target process is being profiled"},
    {"ccprof_cpu_seconds_total", "counter", "CPU time ccprof itself used"},
};

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string site_name(const json& s) {
  std::string fn = s.value("function", "");
  std::string file = s.value("file", "");
  auto slash = file.rfind('/');
  if (slash != std::string::npos) file = file.substr(slash + 1);
  if (fn.empty()) fn = "?";
  return file.empty() ? fn : absl::StrFormat("%s (%s:%d)", fn, file, s.value("line", 0));
}

std::string lock_name(const json& l) {
  std::string n = l.value("name", "");
  return n.empty() ? l.value("region", std::string("unknown")) + " " + l.value("address", "") : n;
}

}  // namespace

std::string prometheus_labels(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ",";
    out += k + "=\"" + escape(v) + "\"";
  }
  return out;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name) {
  auto [it, added] = families_.emplace(name, Family{});
  if (added)
    for (const auto& m : kMetas)
      if (name == m.name) it->second = {m.help, m.type, {}};
  return it->second;
}

void MetricsRegistry::add(const std::string& name, Labels labels, double v, const Labels& overflow) {
  Family& f = family(name);
  if (!f.series.count(labels) && f.series.size() >= kMaxSeries) labels = overflow;
  f.series[labels] += v;
}

void MetricsRegistry::set(const std::string& name, Labels labels, double v) { family(name).series[labels] = v; }

void MetricsRegistry::add_window(const json& doc, const std::map<std::string, double>& offcpu, double window_s,
                                 const Labels& target) {
  ++windows_;
  last_window_s_ = window_s;
  // Every series of this window carries the target's labels first (its overflow series too).
  auto labelled = [&](Labels l) {
    l.insert(l.begin(), target.begin(), target.end());
    return l;
  };
  auto add = [&](const std::string& name, const Labels& labels, double v, const Labels& overflow) {
    this->add(name, labelled(labels), v, labelled(overflow));
  };
  auto set = [&](const std::string& name, const Labels& labels, double v) { this->set(name, labelled(labels), v); };
  // Locks: the top locks by wait, each with its top sites; the rest under "other".
  json locks = doc.value("locks", json::array());
  std::vector<json> sorted(locks.begin(), locks.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const json& a, const json& b) {
    return a.value("total_wait_s", 0.0) > b.value("total_wait_s", 0.0);
  });
  for (size_t i = 0; i < sorted.size(); ++i) {
    const json& l = sorted[i];
    if (l.value("type", "") == "condvar") continue;  // waiting for work, not for a lock
    const double total = l.value("total_wait_s", 0.0);
    const std::string name = i < kTopLocks ? lock_name(l) : "other";
    add("ccprof_lock_waits_total", {{"lock", name}}, l.value("waits", 0.0), {{"lock", "other"}});
    double attributed = 0;
    size_t n = 0;
    for (const auto& s : l.value("sites", json::array())) {
      if (name == "other" || n++ >= kTopSites) break;
      double w = s.value("wait_s", 0.0);
      attributed += w;
      add("ccprof_lock_wait_seconds_total", {{"lock", name}, {"site", site_name(s)}}, w,
          {{"lock", "other"}, {"site", "other"}});
    }
    // Waits without a sampled call site (or beyond the top sites) still count.
    if (total - attributed > 1e-12)
      add("ccprof_lock_wait_seconds_total", {{"lock", name}, {"site", name == "other" ? "other" : "unattributed"}},
          total - attributed, {{"lock", "other"}, {"site", "other"}});
  }
  for (const auto& [reason, s] : offcpu) {
    add("ccprof_offcpu_seconds_total", {{"reason", reason}}, s, {{"reason", "other"}});
    if (reason.rfind("runnable", 0) == 0) add("ccprof_runqueue_delay_seconds_total", {}, s, {});
  }
  for (const auto& line : doc.value("cache_lines", json::array())) {
    std::string name = line.value("name", "");
    if (name.empty()) name = line.value("address", "");
    for (const auto& off : line.value("offsets", json::array()))
      for (const auto& insn : off.value("instructions", json::array()))
        add("ccprof_cacheline_samples_total", {{"line", name}, {"access", insn.value("kind", "")}},
            insn.value("count", 0.0), {{"line", "other"}, {"access", "other"}});
  }
  // The memory sampler's effective rate and cost (decode mode's CPU budget).
  const json ms = doc.value("profile", json::object()).value("memory_sampler", json::object());
  if (ms.value("mode", "off") != "off" && ms.value("frequency_hz", 0) > 0) {
    set("ccprof_memory_sampler_hz", {}, ms.value("frequency_hz", 0));
    if (ms.contains("cost"))
      set("ccprof_memory_sampler_cpu_share", {}, ms["cost"].value("share_percent", 0.0) / 100);
  }
  for (const auto& l : doc.value("losses", json::array()))
    add("ccprof_losses_total", {{"counter", l.value("what", "")}}, l.value("count", 0.0), {{"counter", "other"}});
  // Gauges: the last window of each target only.
  for (const char* gauge : {"ccprof_findings", "ccprof_finding_cost_thread_seconds"})
    std::erase_if(family(gauge).series, [&](const auto& s) {
      return s.first.size() >= target.size() && std::equal(target.begin(), target.end(), s.first.begin());
    });
  std::map<std::string, double> by_kind;
  size_t shown = 0;
  for (const auto& f : doc.value("findings", json::array())) {
    by_kind[f.value("kind", "")] += 1;
    if (shown++ < kMaxSeries)
      set("ccprof_finding_cost_thread_seconds", {{"kind", f.value("kind", "")}, {"subject", finding_subject(f)}},
          f.contains("cost") ? f["cost"].value("thread_seconds", 0.0) : 0.0);
  }
  for (const auto& [k, n] : by_kind) set("ccprof_findings", {{"kind", k}}, n);
}

std::string MetricsRegistry::render(double own_cpu_s) const {
  std::string out;
  for (const auto& m : kMetas) {
    out += absl::StrFormat("# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.type);
    std::string name = m.name;
    if (name == "ccprof_windows_total") out += absl::StrFormat("%s %d\n", name, windows_);
    else if (name == "ccprof_window_seconds") out += absl::StrFormat("%s %.9g\n", name, last_window_s_);
    else if (name == "ccprof_target_up" && target_up_.empty()) out += absl::StrFormat("%s 0\n", name);
    else if (name == "ccprof_target_up")
      for (const auto& [labels, up] : target_up_)
        out += labels.empty() ? absl::StrFormat("%s %d\n", name, up ? 1 : 0)
                              : absl::StrFormat("%s{%s} %d\n", name, prometheus_labels(labels), up ? 1 : 0);
    else if (name == "ccprof_cpu_seconds_total") out += absl::StrFormat("%s %.9g\n", name, own_cpu_s);
    auto it = families_.find(name);
    if (it == families_.end()) continue;
    for (const auto& [labels, v] : it->second.series)
      out += labels.empty() ? absl::StrFormat("%s %.9g\n", name, v)
                            : absl::StrFormat("%s{%s} %.9g\n", name, prometheus_labels(labels), v);
  }
  return out;
}

}  // namespace ccprof::report
