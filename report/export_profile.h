#pragma once
// The profiles `ccprof export` writes, in one format-neutral form: weighted stacks
// (leaf first) with labels, built from the same lock table, symbolizer and unwound
// stacks the analysis uses. export_pprof.cc and export_collapsed.cc serialise it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "profiler/index.h"

namespace ccprof::report {

// One frame of a stack: a symbolized instruction of a process, or a pseudo frame
// that says what is missing ("[no stack sampled]") or why a thread was off CPU.
struct ExportFrame {
  uint32_t pid = 0;
  uint64_t address = 0;                         // lookup address (call instruction); 0 for a pseudo frame
  const profiler::CodeLocation* loc = nullptr;  // owned by the index's symbolizer
  std::string pseudo;                           // set for pseudo frames
};

struct ExportSample {
  std::vector<ExportFrame> frames;  // innermost first
  std::vector<int64_t> values;      // one per ExportProfile::sample_types
  std::map<std::string, std::string> labels;
  std::map<std::string, int64_t> num_labels;
};

struct ExportProfile {
  struct ValueType { std::string type, unit; };
  std::string kind;                      // "contention", "offcpu", "memory"
  std::vector<ValueType> sample_types;
  std::string default_sample_type;
  std::vector<ExportSample> samples;
  int64_t time_ns = 0;                   // wall-clock start of the profile, 0 when unknown
  int64_t duration_ns = 0;
  std::vector<std::string> comments;     // what the numbers mean and what was scaled or dropped
};

// Contention (Go's mutex profile): contentions/count and delay/nanoseconds of every
// lock except condition variables (waiting for work is not contention), the sampled
// waiting stacks scaled so that each lock's totals equal the kernel's exact totals.
ExportProfile build_contention_profile(const profiler::Index& ctx);
// Off-CPU time (off_cpu/nanoseconds) per thread and reason: the sched collector's exact
// off-CPU time, as run-queue delay plus blocked time split over lock waits, other futex
// waits, I/O, sleep, poll and other syscalls, spread over the sampled stacks of that
// reason where there are some.
// NotFound when the recording has no sched section.
absl::StatusOr<ExportProfile> build_offcpu_profile(const profiler::Index& ctx);

// Memory accesses (samples/count) of the cache lines the report shows (the hottest
// lines, see "cache_lines" in docs/findings-schema.md): one sample per line, offset and
// instruction, labelled with the cache line, the member at that offset and the access
// kind (read, write, rmw, locked-rmw, cas).
ExportProfile build_memory_profile(const profiler::Index& ctx);

// Splits `total` over `weights` in proportion, rounding so that the parts sum to
// `total` exactly (cumulative rounding). All zero weights split evenly.
std::vector<int64_t> apportion(int64_t total, const std::vector<double>& weights);

}  // namespace ccprof::report
