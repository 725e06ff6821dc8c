#pragma once
// The one receiver of user-stack copies (struct ccprof_stack_event, bpf/common.h) for
// every collector that takes them: it appends each to the Recording's stacks and
// remembers which stack index each event's seq became, so the waits and syscalls that
// name a seq can be linked to their copy (a copy may arrive after its event).
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "model/recording.h"

namespace ccprof::agent {

class StackReceiver {
 public:
  // Appends the event in `data` to rec.stacks; malformed (short) records are ignored.
  void receive(model::Recording& rec, const void* data, size_t size);
  // The index in rec.stacks of the copy with this seq; -1 when it never arrived.
  int32_t index_of(uint64_t seq) const;

 private:
  std::unordered_map<uint64_t, int32_t> seq_to_stack_;
};

}  // namespace ccprof::agent
