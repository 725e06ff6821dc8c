#pragma once
// The string table of a pprof Profile being built: each string once, "" at index 0.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "profile.pb.h"

namespace ccprof::report {

class PprofStrings {
 public:
  explicit PprofStrings(perftools::profiles::Profile* p) : p_(p) { id(""); }
  int64_t id(const std::string& s) {
    auto [it, added] = ids_.emplace(s, static_cast<int64_t>(ids_.size()));
    if (added) p_->add_string_table(s);
    return it->second;
  }

 private:
  perftools::profiles::Profile* p_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace ccprof::report
