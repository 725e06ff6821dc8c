#pragma once
// Stacks as the agent keeps them since format 3: the return addresses unwound while
// profiling, not the raw stack bytes (which held the target's environment and data).
// Identical address lists are stored once (Recording::stack_frames) and every
// StackCopy names its list by index.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace ccprof::model {

struct Recording;
struct StackCopy;
struct MemorySample;
struct SampleDecode;

// One unwound stack: innermost first, the IP then the return addresses.
struct StackFrames {
  std::vector<uint64_t> pcs;
  // Bit i set: pcs[i] is an exact instruction address (the innermost frame, a signal
  // frame), not a return address whose call instruction is pcs[i] - 1. Frames past the
  // 64th are return addresses (the unwinder stops at 64).
  uint64_t activation = 0;
  bool complete = false;  // reached the outermost frame
  std::string stop;       // why the unwind stopped early, "" when complete

  bool operator==(const StackFrames& o) const {
    return pcs == o.pcs && activation == o.activation && complete == o.complete && stop == o.stop;
  }
};

// Interns StackFrames into Recording::stack_frames: an identical list is stored once.
class StackFramesTable {
 public:
  // The index of `frames` in rec.stack_frames, appending it when it is new. Lists
  // already in rec.stack_frames when the table is first used are found too.
  int32_t intern(Recording& rec, StackFrames frames);

 private:
  struct Hash {
    size_t operator()(const StackFrames& f) const;
  };
  std::unordered_map<StackFrames, int32_t, Hash> index_;
  size_t seen_ = 0;  // rec.stack_frames entries already in index_
};

// What the agent asks of the analysis while profiling (the agent does not link it):
// the code that starts a session hands one over (cli), built on the profiler's unwinder
// and decoder. Called on the drain thread only.
class TargetMemoryReducer {
 public:
  virtual ~TargetMemoryReducer() = default;
  // Unwinds `copy` (registers + raw bytes) with what rec knows of its process so far.
  // Returns false when the process's recorded maps do not cover it yet: the agent asks
  // again after the next /proc snapshot, and takes `out` as it is at the end.
  virtual bool unwind(const Recording& rec, const StackCopy& copy, StackFrames* out) = 0;
  // The stack bytes the decoder reads for this memory sample, as [addr, addr+size)
  // ranges inside its stack windows, and in `decoded` what that decode found (the
  // analysis takes it from MemorySample::decoded). Returns false when its process is
  // not known yet.
  virtual bool stack_reads(const Recording& rec, const MemorySample& sample,
                           std::vector<std::pair<uint64_t, uint32_t>>* out, SampleDecode* decoded) = 0;
};

}  // namespace ccprof::model
