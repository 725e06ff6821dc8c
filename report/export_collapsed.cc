#include "report/export_collapsed.h"

#include <map>

#include "absl/strings/str_join.h"

namespace ccprof::report {
namespace {

// ';' separates frames and the last space starts the value: neither may occur in a name
// (C++ names have spaces: "operator new(unsigned long)" -> "operator_new(unsigned_long)").
std::string frame_name(std::string s) {
  for (char& c : s)
    if (c == ';' || c == ' ' || c == '\n' || c == '\r' || c == '\t') c = c == ';' ? ':' : '_';
  return s.empty() ? "??" : s;
}

}  // namespace

std::string render_collapsed(const ExportProfile& profile) {
  size_t vi = 0;
  for (size_t i = 0; i < profile.sample_types.size(); ++i)
    if (profile.sample_types[i].type == profile.default_sample_type) vi = i;
  std::map<std::string, int64_t> folded;  // sorted: the same input always gives the same file
  for (const auto& s : profile.samples) {
    if (vi >= s.values.size() || s.values[vi] == 0) continue;
    std::vector<std::string> names;  // root first
    for (auto f = s.frames.rbegin(); f != s.frames.rend(); ++f) {
      if (!f->loc) {
        names.push_back(frame_name(f->pseudo));
        continue;
      }
      const auto& levels = f->loc->inline_levels;
      if (levels.empty()) names.push_back(frame_name(f->loc->function));
      for (auto lv = levels.rbegin(); lv != levels.rend(); ++lv)
        names.push_back(frame_name(lv->function.empty() ? f->loc->function : lv->function));
    }
    folded[absl::StrJoin(names, ";")] += s.values[vi];
  }
  std::string out;
  for (const auto& [stack, v] : folded) out += stack + " " + std::to_string(v) + "\n";
  return out;
}

}  // namespace ccprof::report
