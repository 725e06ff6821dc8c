#pragma once
// The predicted gain of each finding: how much faster the program gets (throughput
// multiplier, a range low..high) when the finding's remedy is applied, from what the
// profile measured and nothing else. Each finding kind names the model that maps its
// evidence to a range (docs/findings-schema.md, "predicted_gain"); where the evidence
// is too weak, or no model fits the kind, the finding says "no prediction" and why.
// The constants are in profiler/thresholds.h.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/finding.h"

namespace ccprof::profiler {

// What the models need besides a finding's own evidence.
struct GainContext {
  uint32_t cpus = 0;        // online CPUs of the profiled machine; 0 = unknown
  double duration_s = 0;    // the profile's duration; 0 = unknown
};

PredictedGain predict_gain(const Finding& f, const GainContext& ctx);

// Fills each finding's predicted_gain, appends its one-line statement to the
// explanation, and sets gain_rank (the findings' order by cost is left as it is).
void predict_gains(std::vector<Finding>& findings, const GainContext& ctx);

// The one line the finding's text and the terminal carry ("Predicted gain if fixed:
// throughput x1.3-1.6 (wait-removal ...)" or "No predicted gain: ...").
std::string predicted_gain_text(const PredictedGain& g);

// findings.json's `predicted_gain` object.
nlohmann::json predicted_gain_json(const PredictedGain& g);

}  // namespace ccprof::profiler
