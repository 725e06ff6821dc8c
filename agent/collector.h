#pragma once
// A Collector owns one BPF object (or one family of perf events) and turns what it
// collects into the Recording. The Session drives every collector the same way.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

struct bpf_map;
#include "model/recording.h"

namespace ccprof::agent {

// Maps that every BPF object shares (created once by the Session, reused by fd).
struct SharedMaps {
  int tgids_fd = -1;          // ccprof_tgids: u32 tgid -> u8
  int thread_states_fd = -1;  // ccprof_thread_states: u32 tid -> ccprof_thread_state
};

// Makes a skeleton's copies of the shared maps use the session's (before load).
// `who` names the collector in the error.
absl::Status share_maps(bpf_map* tgids, bpf_map* thread_states, const SharedMaps& shared, const char* who);

class Collector {
 public:
  virtual ~Collector() = default;
  virtual const char* name() const = 0;
  // open -> set read-only data -> reuse the shared maps -> load -> attach, each step checked.
  virtual absl::Status start(const SharedMaps& shared) = 0;
  // Called every ~20 ms: move what the kernel has into the recording (cheap, no blocking).
  virtual void drain(model::Recording& rec) = 0;
  // Called once at the end: final drain, read the in-kernel aggregates and loss counters
  // (as "NAME.counter" entries in rec.losses), detach.
  virtual void finish(model::Recording& rec) = 0;
  // For the status line.
  virtual uint64_t events() const = 0;
  virtual uint64_t drops() const = 0;
};

}  // namespace ccprof::agent
