#pragma once
// What the agent's drain thread asks of the analysis while profiling (model/
// stack_frames.h): unwind each stack copy into return addresses, and find the stack
// bytes the decoder reads for each memory sample, so that the target's raw memory
// (environment, request buffers, tokens) never reaches the recording. One libdw session
// per process, rebuilt when the target maps new code.
#include <cstdint>
#include <map>
#include <unordered_map>
#include <memory>
#include <utility>
#include <vector>

#include "model/stack_frames.h"
#include "profiler/data_naming.h"
#include "profiler/model_names.h"

namespace ccprof::profiler {

class AccessDecoder;
class Symbolizer;

class OnlineReducer : public model::TargetMemoryReducer {
 public:
  OnlineReducer();
  ~OnlineReducer() override;
  bool unwind(const Recording& rec, const StackCopy& copy, StackFrames* out) override;
  bool stack_reads(const Recording& rec, const MemorySample& sample,
                   std::vector<std::pair<uint64_t, uint32_t>>* out, SampleDecode* decoded) override;

 private:
  struct Process {
    ProcessInfo info;  // the maps `sym` was built from (Symbolizer keeps a reference)
    std::unique_ptr<Symbolizer> sym;
    std::unique_ptr<AccessDecoder> decoder;
    // pointee_slots() per (instruction << 4 | base register); dropped with `sym`.
    std::unordered_map<uint64_t, PointeeSlots> pointee_slots;
  };
  // The process's libdw session, rebuilt from rec's maps when `pc` is not in the maps it
  // was built from and rec has more; nullptr when rec's maps do not cover `pc` either.
  Process* process(const Recording& rec, uint32_t pid, uint64_t pc);
  // Rebuilds when rec's maps for pid differ from those `p` was built from.
  bool rebuild_if_grown(const Recording& rec, uint32_t pid, Process& p);
  std::map<uint32_t, Process> procs_;
};

std::shared_ptr<model::TargetMemoryReducer> make_online_reducer();

}  // namespace ccprof::profiler
