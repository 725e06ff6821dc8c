#include "profiler/address_yield.h"

#include <algorithm>
#include <vector>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {
namespace {
double ratio(uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / b : 0.0; }
}  // namespace

AddressYield::Module& AddressYield::module(Symbolizer* sym, uint64_t ip) {
  const MemoryMap* m = sym ? sym->map_of(ip) : nullptr;
  return modules_[m && !m->path.empty() ? m->path : "[unknown]"];
}

uint64_t AddressYield::touching_memory(uint64_t samples, const std::map<std::string, uint64_t>& no_address) {
  uint64_t none = 0;
  for (const char* why : {"no_memory_operand", "previous_is_branch", "at_function_start"}) {
    auto it = no_address.find(why);
    if (it != no_address.end()) none += it->second;
  }
  return samples > none ? samples - none : 0;
}

nlohmann::json AddressYield::modules_json() const {
  std::vector<std::pair<std::string, const Module*>> order;
  for (const auto& [name, m] : modules_) order.emplace_back(name, &m);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second->samples > b.second->samples; });
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, m] : order)
    out.push_back({{"module", name},
                   {"samples", m->samples},
                   {"with_address", m->with_address},
                   {"address_yield", m->samples ? static_cast<double>(m->with_address) / m->samples : 0.0},
                   {"samples_touching_memory", touching_memory(m->samples, m->no_address)},
                   {"memory_address_yield", ratio(m->with_address, touching_memory(m->samples, m->no_address))},
                   {"eh_frame_bounds", m->eh_frame_bounds},
                   {"no_address", m->no_address},
                   {"recovered", m->recovered}});
  return out;
}

}  // namespace ccprof::profiler
