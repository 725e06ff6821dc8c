#pragma once
// Lock libraries whose waiters do not sleep on the lock's word: absl::Mutex's waiters
// sleep on a per-thread semaphore (absl::synchronization_internal::Waiter), oneTBB's
// tbb::mutex on one of its address-wait table's. The futex
// collector puts a uprobe at the entry of the library's slow path, whose first argument
// is the lock; the waits inside it are charged to the lock (bpf/futex.bpf.c,
// lock_objects). Only contended acquisitions reach a slow path, so the fast path never
// traps. Which frames are the library's when looking for the
// user's call site is profiler/lock_libraries.cc.
#include <string>
#include <string_view>
#include <vector>

namespace ccprof::agent {

struct LockSlowPath {
  std::string_view library;               // "Abseil"
  std::vector<std::string_view> parts;    // the mangled symbol contains each of them
};

// Every known slow path (declared as data).
const std::vector<LockSlowPath>& lock_slow_paths();

// Whether a (mangled) symbol name is a known slow path.
const LockSlowPath* slow_path_of_symbol(std::string_view name);

// The slow-path functions defined in the ELF file at `path` (its .symtab and .dynsym),
// by mangled name; empty when none or when the file cannot be read as ELF.
std::vector<std::string> find_lock_slow_paths(const std::string& path);

}  // namespace ccprof::agent
