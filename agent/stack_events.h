#pragma once
// The one receiver of user-stack copies (struct ccprof_stack_event, bpf/common.h) for
// every collector that takes them: it appends each to the Recording's stacks and
// remembers which stack index each event's seq became, so the waits and syscalls that
// name a seq can be linked to their copy (a copy may arrive after its event).
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "absl/status/status.h"
#include "agent/bpf_map.h"
#include "model/recording.h"

namespace ccprof::agent {

class StackReceiver {
 public:
  // Appends the event in `data` to rec.stacks; malformed (short) records are ignored.
  void receive(model::Recording& rec, const void* data, size_t size);
  // The index in rec.stacks of the copy with this seq; -1 when it never arrived.
  int32_t index_of(uint64_t seq) const;
  // A new recording (serve's next window): its stacks are numbered from 0 again.
  void clear() { seq_to_stack_.clear(); }

 private:
  std::unordered_map<uint64_t, int32_t> seq_to_stack_;
};

// The two ring buffers of a collector that copies stacks (futex, sched): its own
// events, and the stack copies its events name by seq.
class EventRings {
 public:
  // Maps both ring buffers; every event record goes to on_event(ctx, data, size).
  // `who` names the collector in the error.
  absl::Status open(int events_fd, int stacks_fd, ring_buffer_sample_fn on_event, void* ctx, const char* who);
  // Stacks first: an event's stack copy is submitted before the event that names it.
  // At most kMaxRecordsPerDrain records of each ring: libbpf's consume goes on for as
  // long as new records arrive, and a producer faster than the drain (a lock handed over
  // hundreds of thousands of times a second) kept it, and the agent's loop with it, from
  // returning: no /proc snapshot after the target's exec (its libraries' code never
  // recorded, its stacks not unwound), no other collector drained. Returns whether a
  // ring stopped at the bound (more is waiting).
  bool drain(model::Recording& rec);
  // At a hand-over: drains until what the rings held is read, in at most
  // kMaxBacklogDrains bounded drains (more than a full ring's records), so that a
  // target still producing cannot hold the hand-over either.
  void drain_backlog(model::Recording& rec);
  static constexpr uint64_t kMaxRecordsPerDrain = 65536;
  static constexpr int kMaxBacklogDrains = 16;
  const StackReceiver& stacks() const { return stacks_; }
  // The next drain goes into a new recording (serve's next window).
  void start_window() { stacks_.clear(); }

 private:
  static int on_stack(void* ctx, void* data, size_t size);
  static int on_event(void* ctx, void* data, size_t size);
  ring_buffer_sample_fn on_event_ = nullptr;
  void* on_event_ctx_ = nullptr;
  uint64_t events_read_ = 0, stacks_read_ = 0;  // in the current drain
  RingBufferPtr events_, stacks_rb_;
  StackReceiver stacks_;
  model::Recording* rec_ = nullptr;
};

}  // namespace ccprof::agent
