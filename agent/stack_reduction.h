#pragma once
// Turns what the kernel copied of the target's memory into what the analysis needs,
// on the drain thread while profiling: each stack copy becomes a deduplicated list of
// return addresses (Recording::stack_frames) and its registers and bytes are dropped;
// each memory sample keeps only the stack bytes the decoder reads. The target's
// environment, request buffers and secrets on its stack never reach the recording,
// whose size then grows with the number of distinct stacks, not of copies.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "model/recording.h"
#include "model/stack_frames.h"

namespace ccprof::agent {

class StackReduction {
 public:
  // Without a reducer nothing is reduced (raw bytes stay: tests of the agent alone).
  // keep_stack_bytes: unwind, but also keep the raw bytes and registers (--keep-stack-bytes).
  StackReduction(std::shared_ptr<model::TargetMemoryReducer> reducer, bool keep_stack_bytes);
  // Reduces the stacks and samples appended to `rec` since the last call. What cannot be
  // reduced yet (its process's code not in the recorded maps) waits for a later call;
  // `final` (after the last snapshot) reduces everything and drops what is left.
  // `until_ns` (CLOCK_MONOTONIC, 0 = none): a non-final call stops taking new work at
  // that time and leaves the rest for the next call, so reducing never stretches a
  // profile past its --duration (or a serve window past its length).
  void reduce(model::Recording& rec, bool final, uint64_t until_ns = 0);
  uint64_t stacks_unwound() const { return stacks_unwound_; }
  double unwind_cpu_s() const { return unwind_cpu_s_; }
  double sample_cpu_s() const { return sample_cpu_s_; }
  // A hash of the recorded maps of every process (pid, exe, how many, where the first
  // starts): it changes when the session's /proc snapshot records a new mapping or an
  // exec replaced them (what is pending is retried then; the futex collector looks for
  // lock libraries' slow paths then). Not their count: an exec can leave as many maps as
  // the image before it had (`ccprof run`'s held child is ccprof's own image until it
  // execs), and the change would go unseen.
  static size_t maps_generation(const model::Recording& rec);

 private:
  void reduce_stack(model::Recording& rec, size_t i, bool final, std::vector<size_t>& later);
  void reduce_sample(model::Recording& rec, size_t i, bool final, std::vector<size_t>& later);
  std::shared_ptr<model::TargetMemoryReducer> reducer_;
  bool keep_bytes_;
  model::StackFramesTable table_;
  size_t pending_generation_ = 0;
  size_t next_stack_ = 0, next_sample_ = 0;
  std::vector<size_t> pending_stacks_, pending_samples_;
  uint64_t stacks_unwound_ = 0;
  double unwind_cpu_s_ = 0, sample_cpu_s_ = 0;  // drain-thread CPU: stacks, memory samples
};

}  // namespace ccprof::agent
