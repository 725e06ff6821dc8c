#pragma once
// The bytes of a recording file (header + CBOR payload), so that report/ can write it
// together with the other outputs as one set (report/output_set.h). Defined in
// recording.cc next to save_recording(), which writes the same bytes alone.
#include <string>

#include "profiler/recording.h"

namespace ccprof::profiler {

std::string encode_recording(const Recording& rec);

}  // namespace ccprof::profiler
