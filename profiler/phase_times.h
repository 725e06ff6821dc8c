#pragma once
// The calling thread's CPU time per phase of the analysis, logged at debug level (-v):
// where a big profile's analysis goes (the outputs come after the window's end, so
// their cost is the user's wait).
#include <time.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ccprof::profiler {

class PhaseTimes {
 public:
  PhaseTimes() : last_(now()) {}
  // Charges the CPU time since the previous mark (or construction) to `phase`.
  void mark(std::string phase) {
    const double t = now();
    phases_.emplace_back(std::move(phase), t - last_);
    last_ = t;
  }
  // "a 0.120 s, b 0.003 s" in the order marked, phases under `min_s` left out.
  std::string summary(double min_s = 0) const {
    std::string out;
    for (const auto& [name, s] : phases_)
      if (s >= min_s) absl::StrAppend(&out, out.empty() ? "" : ", ", name, absl::StrFormat(" %.3f s", s));
    return out;
  }

 private:
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  }
  double last_;
  std::vector<std::pair<std::string, double>> phases_;
};

}  // namespace ccprof::profiler
