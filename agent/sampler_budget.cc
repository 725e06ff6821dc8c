#include "agent/sampler_budget.h"

#include <fstream>
#include <map>
#include <utility>

namespace ccprof::agent {

std::string over_budget(const SamplerCost& c, double budget) {
  if (c.drain_share() > kDrainThreadLimit) return "drain thread busy";
  if (budget > 0 && c.share() > budget) return "over budget";
  return "";
}

uint32_t max_rate_level(uint32_t hz) {
  uint32_t level = 0;
  while (level < 16 && (hz >> (level + 1)) >= kMinSampleHz) ++level;
  return level;
}

double timer_interrupt_ns_estimate() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    return (line + " ").find(" hypervisor ") != std::string::npos ? kInterruptNsVm : kInterruptNsMetal;
  }
  return kInterruptNsVm;  // not known: the dearer case
}

std::vector<bool> thin_to_level(const std::vector<uint8_t>& levels, const std::vector<uint32_t>& cpus, uint8_t to) {
  std::vector<bool> keep(levels.size(), true);
  std::map<std::pair<uint32_t, uint8_t>, uint64_t> seen;  // (cpu, level) -> samples so far
  for (size_t i = 0; i < levels.size(); ++i) {
    if (levels[i] >= to) continue;
    const uint64_t every = uint64_t{1} << (to - levels[i]);
    const uint32_t cpu = i < cpus.size() ? cpus[i] : 0;
    keep[i] = seen[{cpu, levels[i]}]++ % every == 0;
  }
  return keep;
}

}  // namespace ccprof::agent
