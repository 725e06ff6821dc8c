#pragma once
// Unwinds a StackCopy (user registers + a copy of the stack) with libdw's DWARF CFI,
// offline: works for -O2 code without frame pointers and through glibc.
#include <cstdint>
#include <string>
#include <vector>

#include "profiler/model_names.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

struct Frame {
  uint64_t pc = 0;          // return address (or the IP for the innermost frame)
  uint64_t lookup_pc = 0;   // pc - 1 for return addresses: the call instruction
  CodeLocation loc;         // symbolized lookup_pc
};

struct UnwindResult {
  std::vector<Frame> frames;  // innermost first
  bool complete = false;      // reached the outermost frame (no CFI error before it)
  std::string error;          // why it stopped early, "" when complete
};

// The 8 bytes at `addr` from the stack copy; false when they are not all inside it.
bool read_stack_copy(const StackCopy& stack, uint64_t addr, uint64_t* out);

// Unwinds `stack` in `sym`'s address space; at most max_frames frames. Without
// `symbolize` the frames carry addresses only (the agent's drain thread: symbols are
// looked up later, once per address of the profile).
UnwindResult unwind_stack(Symbolizer& sym, const StackCopy& stack, int max_frames = 64, bool symbolize = true);

// The addresses of an unwind as the recording keeps them (model/stack_frames.h).
StackFrames to_stack_frames(const UnwindResult& r);
// Frames of a recorded address list, symbolized with `sym`.
std::vector<Frame> frames_of(Symbolizer& sym, const StackFrames& f);

}  // namespace ccprof::profiler
