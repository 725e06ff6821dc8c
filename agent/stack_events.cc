#include "agent/stack_events.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

#include "bpf/common.h"

namespace ccprof::agent {

static_assert(CCPROF_NUM_REGS == model::kNumRegs, "bpf/common.h and model/recording.h disagree on registers");

void StackReceiver::receive(model::Recording& rec, const void* data, size_t size) {
  if (size < sizeof(ccprof_stack_event)) return;
  const auto* e = static_cast<const ccprof_stack_event*>(data);
  model::StackCopy sc;
  sc.pid = e->tgid;
  sc.tid = e->tid;
  sc.time_ns = e->time_ns;
  std::copy(e->regs, e->regs + CCPROF_NUM_REGS, sc.regs.begin());
  const uint32_t len = std::min<uint32_t>(e->stack_len, CCPROF_STACK_COPY);
  sc.stack.assign(e->stack, e->stack + len);
  // Put back the return addresses a uretprobe's trampoline stands in for.
  const uint64_t sp = sc.regs[model::kRsp];
  for (uint32_t i = 0; i < std::min<uint32_t>(e->n_uret, CCPROF_MAX_URET); ++i) {
    const uint64_t slot = e->uret_slot[i];
    if (slot >= sp && slot - sp + 8 <= sc.stack.size()) std::memcpy(sc.stack.data() + (slot - sp), &e->uret_orig[i], 8);
  }
  seq_to_stack_[e->seq] = static_cast<int32_t>(rec.stacks.size());
  rec.stacks.push_back(std::move(sc));
}

int32_t StackReceiver::index_of(uint64_t seq) const {
  auto it = seq_to_stack_.find(seq);
  return it == seq_to_stack_.end() ? -1 : it->second;
}

absl::Status EventRings::open(int events_fd, int stacks_fd, ring_buffer_sample_fn on_event, void* ctx,
                              const char* who) {
  on_event_ = on_event;
  on_event_ctx_ = ctx;
  events_.reset(ring_buffer__new(events_fd, &EventRings::on_event, this, nullptr));
  stacks_rb_.reset(ring_buffer__new(stacks_fd, on_stack, this, nullptr));
  if (!events_ || !stacks_rb_)
    return absl::InternalError(absl::StrCat(who, ": cannot map ring buffers: ", strerror(errno)));
  return absl::OkStatus();
}

// What a callback returns to stop libbpf's consume at the bound (the record it was given
// is consumed; consume returns this, negative).
constexpr int kStopAtBound = -EAGAIN;

bool EventRings::drain(model::Recording& rec) {
  rec_ = &rec;
  stacks_read_ = events_read_ = 0;
  ring_buffer__consume(stacks_rb_.get());
  ring_buffer__consume(events_.get());
  return stacks_read_ >= kMaxRecordsPerDrain || events_read_ >= kMaxRecordsPerDrain;
}

void EventRings::drain_backlog(model::Recording& rec) {
  for (int i = 0; i < kMaxBacklogDrains && drain(rec); ++i) {
  }
}

int EventRings::on_stack(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventRings*>(ctx);
  self->stacks_.receive(*self->rec_, data, size);
  return ++self->stacks_read_ >= kMaxRecordsPerDrain ? kStopAtBound : 0;
}

int EventRings::on_event(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventRings*>(ctx);
  if (int r = self->on_event_(self->on_event_ctx_, data, size); r < 0) return r;
  return ++self->events_read_ >= kMaxRecordsPerDrain ? kStopAtBound : 0;
}

}  // namespace ccprof::agent
