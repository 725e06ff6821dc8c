#pragma once
// What a CAS retry storm costs beyond its CAS: a failed compare-exchange repeats the
// whole loop (the load of the word, the new value's computation and stores), not only
// the CAS that the word's own samples count. The predicted gain's high end for
// cas-retry-storm (profiler/predicted_gain.cc) removes the time in the functions that
// run the word's loop: the share of the threads' samples in the functions of the
// word's sampled instructions (an upper bound: the fixed program still makes one pass).
#include <vector>

#include "profiler/finding.h"
#include "profiler/index.h"

namespace ccprof::profiler {

// Adds evidence.word.loop_share and loop_functions to each cas-retry-storm finding
// whose word's instructions name their functions and whose threads have samples.
void add_cas_loop_shares(const Index& index, std::vector<Finding>& findings);

}  // namespace ccprof::profiler
