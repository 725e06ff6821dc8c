#pragma once
// Who called the sampled function, from the frame-pointer chain that code built with
// frame pointers keeps (-O0, -fno-omit-frame-pointer): {saved rbp, return address} at
// rbp, and again at the saved rbp. A memory sample carries no call stack, so this is
// what lets an access in a function *called* from inside a critical section count as
// inside it (s02 at -O0: route_request() is not inlined into the function that holds
// the reader lock).
//
// Without frame pointers (-O2 -fomit-frame-pointer) rbp is a general register: what it
// points to is not a frame. Each level is therefore checked before it is believed: the
// instruction before the return address must be a direct call to the function the
// level below is in. A garbage word, a sample in a prologue or epilogue (rbp still the
// caller's frame), or an indirect call gives no caller: then nothing changes.
#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "model/recording.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

// The 8 bytes at `addr` from the sample's stack windows, if they hold them.
std::optional<uint64_t> stack_word(const model::MemorySample& m, uint64_t addr);

// The checked return addresses of the frame-pointer chain, innermost first: [0] is in
// the caller of the function that contains the sampled instruction, [1] in its caller,
// and so on; 0 where the chain stops (no frame pointer, a level not in the sample's
// stack windows, a check that fails).
using FrameCallers = std::array<uint64_t, 4>;

// One per process; remembers the call instruction before each return address it read.
class FrameCallerFinder {
 public:
  explicit FrameCallerFinder(Symbolizer& sym) : sym_(sym) {}
  FrameCallers callers(uint64_t pc, const model::MemorySample& m);
  // Whether the instruction that ends at `return_address` is a direct call (e8 rel32)
  // to the function that contains `callee_pc`, in the code on disk.
  bool returns_from_call_to(uint64_t return_address, uint64_t callee_pc);

 private:
  Symbolizer& sym_;
  std::unordered_map<uint64_t, uint64_t> call_targets_;  // return address -> direct call's target, 0 = none
};

}  // namespace ccprof::profiler
