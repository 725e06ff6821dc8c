#pragma once
// Syscall numbers and the classes ccprof sorts them into. Shared by the sched
// collector (which fills the BPF program's class table from it) and the rules.
#include <cstdint>
#include <string>

namespace ccprof::model {

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

}  // namespace ccprof::model
