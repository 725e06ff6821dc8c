#include "profiler/analysis.h"

#include <algorithm>

#include "profiler/cas_loop_share.h"
#include "profiler/catalog.h"
#include "profiler/index.h"
#include "profiler/lock_cpu_cost.h"
#include "profiler/phase_times.h"
#include "profiler/predicted_gain.h"
#include "profiler/rule.h"
#include "profiler/tables.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {

void arbitrate(std::vector<Finding>& findings) {
  std::vector<Subject> explained;
  for (const auto& f : findings) {
    const KindInfo* k = kind_info(f.kind);
    if (k && !k->general && f.explains_subject && f.subject.kind != SubjectKind::kNone)
      explained.push_back(f.subject);
  }
  std::erase_if(findings, [&](const Finding& f) {
    const KindInfo* k = kind_info(f.kind);
    return k && k->general && std::find(explained.begin(), explained.end(), f.subject) != explained.end();
  });
  rank_findings(findings);
}

Analysis analyze(const Recording& rec) {
  PhaseTimes cpu;
  std::unique_ptr<Index> index = build_index(rec);
  cpu.mark("index");
  Analysis out;
  PhaseTimes rule_cpu;
  for (const auto& rule : profile_rules()) {
    for (auto& f : rule->run(*index)) out.findings.push_back(std::move(f));
    const auto kinds = rule->kinds();
    rule_cpu.mark(kinds.empty() ? "?" : std::string(kinds[0]));
  }
  cpu.mark("rules");
  arbitrate(out.findings);
  add_lock_cpu_costs(*index, out.findings);
  add_cas_loop_shares(*index, out.findings);
  predict_gains(out.findings, {rec.online_cpus, rec.duration_s()});
  cpu.mark("costs");
  out.tables = build_tables(*index);
  cpu.mark("tables");
  spdlog::debug("analysis CPU: {} (rules over 10 ms: {})", cpu.summary(), rule_cpu.summary(0.01));
  return out;
}

}  // namespace ccprof::profiler
