// libFuzzer harness for the PMU sample parser (perf_event PERF_RECORD_SAMPLE bodies):
// the first 8 bytes are the sample_type bit set, the rest the record. -DCCPROF_FUZZ=ON.
#include <cstdint>
#include <cstring>

#include "model/pmu_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t sample_type;
  memcpy(&sample_type, data, 8);
  auto s = ccprof::model::parse_sample_record(data + 8, size - 8, sample_type);
  if (s.ok()) (void)ccprof::model::decode_data_src(s->data_src);
  return 0;
}
