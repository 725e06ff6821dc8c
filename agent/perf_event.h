#pragma once
// perf_event_open for the capability probes and the memory sampler.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace ccprof::agent {

// The fd of a new perf event (close-on-exec), or -1 with errno set.
inline int perf_event_open(perf_event_attr* a, int pid, int cpu) {
  return static_cast<int>(syscall(SYS_perf_event_open, a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

// A disabled event of `type`/`config` that counts user mode only: ccprof needs neither
// kernel nor hypervisor samples, and excluding them also works without
// perf_event_paranoid < 2.
inline perf_event_attr user_event_attr(uint32_t type, uint64_t config) {
  perf_event_attr a{};
  a.size = sizeof a;
  a.type = type;
  a.config = config;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  return a;
}

}  // namespace ccprof::agent
