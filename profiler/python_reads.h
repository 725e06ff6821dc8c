#pragma once
// Python frames at memory samples (CPython 3.11 only): the agent's frame sampler reads
// every Python thread's interpreter stack every 10 ms and keeps each read
// (model::PythonSection::reads, agent/cpython_frames.h); a memory sample of a thread
// takes that thread's read made nearest in time, within one read period. A sample with
// none (not a Python thread, just started or exited, a stalled sampler) keeps its native
// frames only and is counted (python.memory_sample_frames_missing). Another thread's
// read is never used: a Python thread's line says nothing about its neighbours'.
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/sections.h"
#include "profiler/finding.h"

namespace ccprof::profiler {

class Index;

class PythonReads {
 public:
  explicit PythonReads(const model::PythonSection& py);
  // The frames (indices into PythonSection::frames, innermost first) of the read of
  // `tid` nearest to `time_ns`, when it is at most one read period away; else null.
  const std::vector<int32_t>* nearest(uint32_t tid, uint64_t time_ns) const;
  bool empty() const { return by_tid_.empty(); }

 private:
  uint64_t period_ns_ = 0;
  std::map<uint32_t, std::vector<const model::PythonReadRun*>> by_tid_;  // by first_ns
};

// The memory samples of the readable (3.11) CPython processes, with their Python frames:
// tables.memory.python of findings.json (docs/findings-schema.md): the Python lines the
// samples ran (`sites`) and the flame graph's stacks (Python frames root first, then
// the interpreter's native function at the sample). For another CPython version only its
// note (native frames only); null when the target ran no CPython.
// Adds python.memory_sample_frames_missing to `losses`.
nlohmann::json python_memory_table(const Index& index, std::map<std::string, uint64_t>& losses);

// The Python lines that ran the sampled accesses to `offsets` of the cache line at
// `line_address` of process `pid`, by share of those accesses; empty outside CPython 3.11.
std::vector<SourceLocation> python_access_sites(const Index& index, const PythonReads& reads, uint32_t pid,
                                                uint64_t line_address, const std::set<uint32_t>& offsets);

}  // namespace ccprof::profiler
