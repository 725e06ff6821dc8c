#include "model/syscalls.h"

#include <sys/syscall.h>

#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace ccprof::model {
namespace {

struct SyscallInfo {
  const char* name;
  SyscallClass cls;
};

// x86-64 numbers (the recordings are made on x86-64; see third_party/vmlinux/x86).
const std::unordered_map<int, SyscallInfo>& syscall_table() {
  using C = SyscallClass;
  static const std::unordered_map<int, SyscallInfo> table = {
      // I/O on files, pipes and sockets: a thread in one of these waits for a device,
      // a peer or the page cache, not for another thread of the process.
      {SYS_read, {"read", C::kIo}}, {SYS_write, {"write", C::kIo}},
      {SYS_pread64, {"pread64", C::kIo}}, {SYS_pwrite64, {"pwrite64", C::kIo}},
      {SYS_readv, {"readv", C::kIo}}, {SYS_writev, {"writev", C::kIo}},
      {SYS_preadv, {"preadv", C::kIo}}, {SYS_pwritev, {"pwritev", C::kIo}},
      {SYS_preadv2, {"preadv2", C::kIo}}, {SYS_pwritev2, {"pwritev2", C::kIo}},
      {SYS_recvfrom, {"recvfrom", C::kIo}}, {SYS_recvmsg, {"recvmsg", C::kIo}},
      {SYS_recvmmsg, {"recvmmsg", C::kIo}}, {SYS_sendto, {"sendto", C::kIo}},
      {SYS_sendmsg, {"sendmsg", C::kIo}}, {SYS_sendmmsg, {"sendmmsg", C::kIo}},
      {SYS_sendfile, {"sendfile", C::kIo}}, {SYS_splice, {"splice", C::kIo}},
      {SYS_tee, {"tee", C::kIo}}, {SYS_vmsplice, {"vmsplice", C::kIo}},
      {SYS_copy_file_range, {"copy_file_range", C::kIo}},
      {SYS_fsync, {"fsync", C::kIo}}, {SYS_fdatasync, {"fdatasync", C::kIo}},
      {SYS_sync, {"sync", C::kIo}}, {SYS_syncfs, {"syncfs", C::kIo}},
      {SYS_sync_file_range, {"sync_file_range", C::kIo}},
      {SYS_connect, {"connect", C::kIo}}, {SYS_accept, {"accept", C::kIo}},
      {SYS_accept4, {"accept4", C::kIo}}, {SYS_open, {"open", C::kIo}},
      {SYS_openat, {"openat", C::kIo}}, {SYS_openat2, {"openat2", C::kIo}},
      {SYS_fallocate, {"fallocate", C::kIo}}, {SYS_ftruncate, {"ftruncate", C::kIo}},
      {SYS_io_getevents, {"io_getevents", C::kIo}}, {SYS_io_pgetevents, {"io_pgetevents", C::kIo}},
      {SYS_io_uring_enter, {"io_uring_enter", C::kIo}}, {SYS_wait4, {"wait4", C::kIo}},
      {SYS_waitid, {"waitid", C::kIo}}, {SYS_msgrcv, {"msgrcv", C::kIo}},
      {SYS_msgsnd, {"msgsnd", C::kIo}}, {SYS_flock, {"flock", C::kIo}},
      // Timers.
      {SYS_nanosleep, {"nanosleep", C::kSleep}}, {SYS_clock_nanosleep, {"clock_nanosleep", C::kSleep}},
      {SYS_pause, {"pause", C::kSleep}},
      // Readiness of file descriptors.
      {SYS_poll, {"poll", C::kPoll}}, {SYS_ppoll, {"ppoll", C::kPoll}},
      {SYS_select, {"select", C::kPoll}}, {SYS_pselect6, {"pselect6", C::kPoll}},
      {SYS_epoll_wait, {"epoll_wait", C::kPoll}}, {SYS_epoll_pwait, {"epoll_pwait", C::kPoll}},
#ifdef SYS_epoll_pwait2
      {SYS_epoll_pwait2, {"epoll_pwait2", C::kPoll}},
#endif
      // Waiting for other threads (the futex collector covers these).
      {SYS_futex, {"futex", C::kFutex}},
#ifdef SYS_futex_waitv
      {SYS_futex_waitv, {"futex_waitv", C::kFutex}},
#endif
      {454 /* futex_wake */, {"futex_wake", C::kFutex}},
      {455 /* futex_wait */, {"futex_wait", C::kFutex}},
      {456 /* futex_requeue */, {"futex_requeue", C::kFutex}},
      // Thread life cycle: what creating and ending a thread costs.
      {SYS_clone, {"clone", C::kSpawn}}, {SYS_clone3, {"clone3", C::kSpawn}},
      {SYS_fork, {"fork", C::kSpawn}}, {SYS_vfork, {"vfork", C::kSpawn}},
      {SYS_exit, {"exit", C::kThread}}, {SYS_exit_group, {"exit_group", C::kThread}},
      {SYS_set_robust_list, {"set_robust_list", C::kThread}},
      {SYS_set_tid_address, {"set_tid_address", C::kThread}}, {SYS_rseq, {"rseq", C::kThread}},
      {SYS_sched_yield, {"sched_yield", C::kThread}}, {SYS_execve, {"execve", C::kThread}},
      // Address space changes (thread stacks, allocator arenas, growing buffers).
      {SYS_mmap, {"mmap", C::kMemoryGrow}}, {SYS_munmap, {"munmap", C::kMemory}},
      {SYS_mprotect, {"mprotect", C::kMemory}}, {SYS_madvise, {"madvise", C::kMemory}},
      {SYS_brk, {"brk", C::kMemoryGrow}}, {SYS_mremap, {"mremap", C::kMemoryGrow}},
      // A few common others, for names only.
      {SYS_close, {"close", C::kOther}}, {SYS_fstat, {"fstat", C::kOther}},
      {SYS_lseek, {"lseek", C::kOther}}, {SYS_ioctl, {"ioctl", C::kOther}},
      {SYS_getpid, {"getpid", C::kOther}}, {SYS_gettid, {"gettid", C::kOther}},
      {SYS_rt_sigaction, {"rt_sigaction", C::kOther}}, {SYS_rt_sigprocmask, {"rt_sigprocmask", C::kOther}},
      {SYS_rt_sigreturn, {"rt_sigreturn", C::kOther}}, {SYS_clock_gettime, {"clock_gettime", C::kOther}},
      {SYS_getrandom, {"getrandom", C::kOther}}, {SYS_prctl, {"prctl", C::kOther}},
      {SYS_newfstatat, {"newfstatat", C::kOther}}, {SYS_statx, {"statx", C::kOther}},
      {SYS_pipe2, {"pipe2", C::kOther}}, {SYS_socket, {"socket", C::kOther}},
      {SYS_eventfd2, {"eventfd2", C::kOther}}, {SYS_epoll_ctl, {"epoll_ctl", C::kOther}},
      {SYS_sched_getaffinity, {"sched_getaffinity", C::kOther}}, {SYS_kill, {"kill", C::kOther}},
      {SYS_tgkill, {"tgkill", C::kOther}}, {SYS_getrusage, {"getrusage", C::kOther}},
  };
  return table;
}

}  // namespace

SyscallClass classify_syscall(int nr) {
  const auto& t = syscall_table();
  auto it = t.find(nr);
  return it == t.end() ? SyscallClass::kOther : it->second.cls;
}

std::string syscall_name(int nr) {
  const auto& t = syscall_table();
  auto it = t.find(nr);
  return it == t.end() ? absl::StrCat("syscall_", nr) : std::string(it->second.name);
}

const char* syscall_class_name(SyscallClass c) {
  switch (c) {
    case SyscallClass::kIo: return "io";
    case SyscallClass::kSleep: return "sleep";
    case SyscallClass::kPoll: return "poll";
    case SyscallClass::kFutex: return "futex";
    case SyscallClass::kSpawn: return "spawn";
    case SyscallClass::kThread: return "thread";
    case SyscallClass::kMemory: return "memory";
    case SyscallClass::kMemoryGrow: return "memory-grow";
    case SyscallClass::kOther: break;
  }
  return "other";
}

bool is_blocking_syscall(int nr) {
  SyscallClass c = classify_syscall(nr);
  return c == SyscallClass::kIo || c == SyscallClass::kSleep || c == SyscallClass::kPoll;
}

}  // namespace ccprof::model
