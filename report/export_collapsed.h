#pragma once
// ExportProfile -> folded stacks: one "root;...;leaf VALUE" line per distinct stack,
// the format of flamegraph.pl, inferno and speedscope.
#include <string>

#include "report/export_profile.h"

namespace ccprof::report {

// Values are the profile's default sample type (nanoseconds of wait for contention).
std::string render_collapsed(const ExportProfile& profile);

}  // namespace ccprof::report
