#include "agent/collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "bpf/common.h"

namespace ccprof::agent {

absl::StatusOr<TargetMaps> make_target_maps(uint32_t target) {
  TargetMaps m;
  m.tgids = UniqueFd(
      bpf_map_create(BPF_MAP_TYPE_HASH, "ccprof_tgids", sizeof(uint32_t), sizeof(uint8_t), CCPROF_MAX_TGIDS, nullptr));
  if (m.tgids.valid())
    m.sole_tgid =
        UniqueFd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ccprof_sole_tg", sizeof(uint32_t), sizeof(uint32_t), 1, nullptr));
  if (!m.tgids.valid() || !m.sole_tgid.valid()) {
    int e = errno;
    return absl::InternalError(absl::StrCat("cannot create BPF maps: ", strerror(e),
                                            e == EPERM ? " (needs CAP_BPF; is BPF disabled here?)" : ""));
  }
  uint8_t one = 1;
  uint32_t zero = 0;
  if (bpf_map_update_elem(m.tgids.get(), &target, &one, BPF_ANY) ||
      bpf_map_update_elem(m.sole_tgid.get(), &zero, &target, BPF_ANY))
    return absl::InternalError(absl::StrCat("cannot write the target's tgid to its BPF maps: ", strerror(errno)));
  return m;
}

absl::Status share_maps(bpf_map* tgids, bpf_map* sole_tgid, bpf_map* thread_states, const SharedMaps& shared,
                        const char* who) {
  if (int e = bpf_map__reuse_fd(tgids, shared.tgids_fd))
    return absl::InternalError(absl::StrCat(who, ": cannot share the tgid map: ", strerror(-e)));
  if (shared.sole_tgid_fd >= 0) {
    if (int e = bpf_map__reuse_fd(sole_tgid, shared.sole_tgid_fd))
      return absl::InternalError(absl::StrCat(who, ": cannot share the sole-tgid map: ", strerror(-e)));
  }
  // -1 until the futex collector, which creates it, has started (share()).
  if (shared.thread_states_fd < 0) return absl::OkStatus();
  if (int e = bpf_map__reuse_fd(thread_states, shared.thread_states_fd))
    return absl::InternalError(absl::StrCat(who, ": cannot share the thread-state map: ", strerror(-e)));
  return absl::OkStatus();
}

}  // namespace ccprof::agent
