#include "profiler/cas_loop_share.h"

#include <set>
#include <string>

#include "profiler/queue_rules.h"

namespace ccprof::profiler {

void add_cas_loop_shares(const Index& index, std::vector<Finding>& findings) {
  for (auto& f : findings) {
    if (f.kind != "cas-retry-storm" || !f.evidence.contains("word") || !f.evidence["word"].is_object()) continue;
    const nlohmann::json& line = f.evidence.value("cache_line", nlohmann::json::object());
    if (!line.is_object() || !line.contains("offsets") || !line["offsets"].is_array()) continue;
    // The word's offset in its line: the finding's subject is the word.
    const uint64_t offset = f.subject.address & 63;
    std::set<std::string> functions;
    std::set<uint32_t> tids;
    for (const auto& o : line["offsets"]) {
      if (!o.is_object() || o.value("offset", uint64_t{64}) != offset) continue;
      for (const auto& i : o.value("instructions", nlohmann::json::array()))
        if (i.is_object() && i.value("function", "") != "") functions.insert(i["function"].get<std::string>());
      for (const auto& t : o.value("threads", nlohmann::json::array()))
        if (t.is_object() && t.contains("tid") && t["tid"].is_number_unsigned()) tids.insert(t["tid"].get<uint32_t>());
    }
    Symbolizer* sym = index.symbolizer(f.subject.pid);
    if (functions.empty() || tids.empty() || !sym) continue;
    uint64_t all = 0, in_loop = 0;
    for (const auto& s : index.rec.memory_samples) {
      if (s.pid != f.subject.pid || !tids.count(s.tid)) continue;
      ++all;
      if (functions.count(sym->code(s.regs[kRip]).function)) ++in_loop;
    }
    if (!all) continue;
    f.evidence["word"]["loop_share"] = static_cast<double>(in_loop) / all;
    f.evidence["word"]["loop_functions"] = functions;
    double moved = shared_line_sample_share(index, f.subject.pid, tids, [&](const CodeLocation& loc) {
      return functions.count(loc.function) > 0;
    });
    if (moved >= 0) f.evidence["word"]["shared_line_share"] = moved;
  }
}

}  // namespace ccprof::profiler
