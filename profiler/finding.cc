#include "profiler/finding.h"

#include <algorithm>

namespace ccprof::profiler {

void rank_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.cost_thread_s != b.cost_thread_s) return a.cost_thread_s > b.cost_thread_s;
    if (a.cost_share != b.cost_share) return a.cost_share > b.cost_share;
    return a.kind < b.kind;
  });
}

}  // namespace ccprof::profiler
