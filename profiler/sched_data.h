#pragma once
// The "sched" section of a Recording (Recording::sections["sched"]): what the sched
// collector measured per thread (on/off-CPU, run-queue delay, switches, time per
// syscall class), per syscall call site, the long blocking syscalls (with a stack
// copy index into Recording::stacks for some), and the target's RSS over time.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include <nlohmann/json.hpp>

#include "profiler/recording.h"

namespace ccprof::profiler {

// Same values as SCHED_SC_* in bpf/sched_events.h.
enum class SyscallClass : uint8_t {
  kOther = 0,
  kIo = 1,      // read, write, pread, recv*, send*, fsync, connect, accept, ...
  kSleep = 2,   // nanosleep, clock_nanosleep
  kPoll = 3,    // poll, select, epoll_wait, ...
  kFutex = 4,   // futex, futex_waitv, futex_wait
  kSpawn = 5,       // clone, clone3, fork, vfork (stack-sampled: where threads are made)
  kThread = 6,      // exit, set_robust_list, rseq, ...: the rest of a thread's life cycle
  kMemory = 7,      // munmap, mprotect, madvise
  kMemoryGrow = 8,  // mmap, brk, mremap (stack-sampled: where memory grows)
};
inline constexpr int kNumSyscallClasses = 9;

// x86-64 syscall numbers.
SyscallClass classify_syscall(int nr);
// "read", "clock_nanosleep", ...; "syscall_N" when not in the table.
std::string syscall_name(int nr);
const char* syscall_class_name(SyscallClass c);
// A syscall that blocks the calling thread on something outside the process
// (I/O, a timer, readiness of a file descriptor): the classes io, sleep and poll.
bool is_blocking_syscall(int nr);

struct SchedThread {
  uint32_t pid = 0, tid = 0;
  std::string comm;
  uint64_t created_ns = 0;     // 0 = existed before the profile
  uint64_t exited_ns = 0;      // 0 = alive when the profile ended
  uint64_t first_seen_ns = 0;
  uint64_t on_cpu_ns = 0;
  uint64_t off_cpu_ns = 0;     // switched out to switched in (includes runq_ns after preemption)
  uint64_t runq_ns = 0;        // runnable, waiting for a CPU (wakeup or preemption -> on CPU)
  uint64_t max_runq_ns = 0;
  uint64_t runq_count = 0;
  uint64_t voluntary_switches = 0, involuntary_switches = 0;
  uint64_t wakeups = 0;
  std::array<uint64_t, kNumSyscallClasses> syscall_ns{};  // wall time in syscalls, by class
  std::array<uint64_t, kNumSyscallClasses> syscall_count{};

  uint64_t blocking_syscall_ns() const;  // io + sleep + poll
};

// Totals per (process, syscall, user IP of the syscall instruction). Futex excluded.
struct SyscallSite {
  uint32_t pid = 0;
  int32_t nr = -1;
  uint64_t ip = 0;
  uint64_t count = 0, total_ns = 0, max_ns = 0;
};

// One blocking syscall (io/sleep/poll) at least SchedSection::long_syscall_ns long,
// or a stack-sampled spawn / memory-growth syscall (those always have a stack).
struct SyscallSample {
  uint32_t pid = 0, tid = 0;
  int32_t nr = -1;
  uint64_t enter_ns = 0, duration_ns = 0;
  uint64_t ip = 0;
  int32_t stack = -1;  // index into Recording::stacks, -1 when not sampled
};

struct RssSample {
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC
  uint32_t pid = 0;
  uint64_t rss_bytes = 0;
};

struct SchedSection {
  static constexpr uint32_t kVersion = 1;
  uint64_t long_syscall_ns = 0;  // the collector's threshold for SyscallSample
  std::vector<SchedThread> threads;
  std::vector<SyscallSite> syscall_sites;
  std::vector<SyscallSample> long_syscalls;  // and the sampled spawn/memory-growth calls
  std::vector<RssSample> rss;

  const SchedThread* thread(uint32_t tid) const;
};

void to_json(nlohmann::json& j, const SchedSection& s);
// Throws nlohmann::json exceptions on malformed input; use read_sched_section().
void from_json(const nlohmann::json& j, SchedSection& s);

// The section of `rec`: NotFound when the sched collector did not run, DataLoss when
// the section is malformed (the message says which field).
absl::StatusOr<SchedSection> read_sched_section(const Recording& rec);
void write_sched_section(Recording& rec, const SchedSection& s);

// Little's law pool size: cores x target utilisation x (1 + wait / compute).
double littles_law_pool_size(double cores, double target_utilization, double wait_s, double compute_s);

}  // namespace ccprof::profiler
