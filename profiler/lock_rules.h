#pragma once
#include <vector>

#include "profiler/index.h"
#include "profiler/lock_table.h"

namespace ccprof::profiler {

// A lock that passed the contention thresholds, for rules that look inside its
// critical sections (memory rules).
struct ContendedLock {
  const LockInfo* info = nullptr;  // its row in the lock table
  uint32_t pid = 0;
  uint64_t uaddr = 0;
  std::string name;
  std::vector<CodeLocation> sites;  // the user functions that take it
  std::vector<uint64_t> site_pcs;   // return addresses of their lock calls (start of the critical section)
  bool direct = true;     // the user's code calls the lock function itself (not via free(), ...)
  bool with_condvar = false;  // condition variables are waited on in the same functions: a queue
  double wait_s = 0;
  double share = 0;
  double shared_share = 0;  // share of its sampled waits that acquire it shared (readers of a rwlock)
};

bool is_contended(const LockInfo& lock, double total_thread_s);
std::vector<ContendedLock> contended_locks(const std::vector<LockInfo>& locks, double total_thread_s);


// A finding's subject for a lock.
Subject lock_subject(const LockInfo& lock);
Subject lock_subject(uint32_t pid, uint64_t uaddr, const std::string& name);

}  // namespace ccprof::profiler
