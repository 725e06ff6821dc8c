#include "agent/collector.h"

#include <bpf/libbpf.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ccprof::agent {

absl::Status share_maps(bpf_map* tgids, bpf_map* thread_states, const SharedMaps& shared, const char* who) {
  if (int e = bpf_map__reuse_fd(tgids, shared.tgids_fd))
    return absl::InternalError(absl::StrCat(who, ": cannot share the tgid map: ", strerror(-e)));
  // -1 until the futex collector, which creates it, has started (share()).
  if (shared.thread_states_fd < 0) return absl::OkStatus();
  if (int e = bpf_map__reuse_fd(thread_states, shared.thread_states_fd))
    return absl::InternalError(absl::StrCat(who, ": cannot share the thread-state map: ", strerror(-e)));
  return absl::OkStatus();
}

}  // namespace ccprof::agent
