#pragma once
// The lock table: every futex address the target waited on, with exact totals (from
// the kernel maps), per-waiter and per-owner counts, its type (mutex, condvar, ...)
// and its call sites estimated from the sampled, unwound stacks.
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/lock_libraries.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

class Index;
class ThreadTable;

struct LockSite {
  CodeLocation loc;         // the user's call site (first frame outside system code)
  uint64_t stacks = 0;      // sampled stacks at this site
  double sampled_wait_s = 0;
  double est_wait_s = 0;    // the lock's total wait x this site's share of sampled wait
  double share = 0;
  std::vector<uint64_t> return_pcs;  // distinct return addresses of the lock call at this site
  uint64_t direct_stacks = 0;        // stacks where this function itself calls the lock function
  std::string via;                   // otherwise the library function it called that took the lock ("free")
};

struct LockInfo {
  uint32_t pid = 0;    // for a lock in memory shared by processes: its canonical process
  uint64_t uaddr = 0;  // ... and the address there (shared_objects.h)
  std::set<uint32_t> processes;  // the processes whose threads waited on it
  DataLocation data;
  std::string type = "futex";  // mutex | condvar | rwlock | semaphore | futex
  uint64_t waits = 0, wakes = 0;
  double total_wait_s = 0, max_wait_s = 0;
  std::array<uint64_t, 32> hist{};
  struct Waiter { uint64_t waits = 0; double wait_s = 0; };
  std::map<uint32_t, Waiter> waiters;        // from the wait events
  std::map<uint32_t, uint64_t> owners;       // valid owner tid -> waits that saw it
  uint64_t waits_with_owner = 0;
  // The threads whose FUTEX_WAKE ended a wait: they released the lock. Every futex lock
  // has them; `owners` falls back to them when the lock has no owner field (Rust std,
  // parking_lot, absl::Mutex): owner_source says which one `owners` holds.
  std::map<uint32_t, uint64_t> wakers;
  uint64_t waits_with_waker = 0;
  // "owner field" (glibc __owner, PI word) | "waker" | "sampled in section": a lock that
  // only spun (tbb::spin_mutex: no owner field, no wake), held by the threads the memory
  // sampler found inside its critical section, `owners` counting their samples there
  // (lock_code.h: spin_lock_section) | "none": no owner known (no wait named one, or no
  // sample fell inside a spinning lock's section).
  std::string owner_source = "none";
  bool spin_section_found = false;  // a spinning lock's critical section was read from its code
  // A spin lock the program wrote itself (spin_locks.h): its waiters' memory samples in
  // its acquisition loop, each one sampling period of spinning (their wait_s).
  uint64_t spin_samples = 0;
  uint64_t owner_and_waker = 0, owner_is_waker = 0;  // waits naming both, and those where they agree
  uint64_t woken_waits = 0;  // wait events that slept and were woken (ret 0); the others never slept
  // Woken waits whose wake time is known, and the time from the releaser's FUTEX_WAKE to
  // the waiter's return from the wait, summed: the serial gap in which a contended lock
  // is released but not yet held by the thread it woke (the wake's IPI, the wake-to-run
  // delay, the syscall's exit). An upper bound of that gap: a thread that takes the lock
  // before the woken one ends the gap sooner.
  uint64_t handovers = 0;
  double handover_s = 0;
  uint64_t waits_on_other_words = 0;  // waits charged to this lock while sleeping on another futex word
  // sched_yield() calls of the lock library's acquisition code while it spun for this
  // lock, charged as waiting (included in total_wait_s and the waiters'; lock_yields.h).
  uint64_t yields = 0;
  double yield_s = 0;
  uint64_t event_waits = 0;                  // wait events received (<= waits when some dropped)
  std::map<int32_t, double> owner_syscall_wait_s;  // owner's syscall -> wait time it explains
  // Wait time that began while the owner was preempted (runnable, off its CPU): the
  // holder waited for a CPU, not the lock for its work (an oversubscribed machine).
  double owner_preempted_wait_s = 0;
  uint64_t owner_preempted_waits = 0;
  std::vector<LockSite> sites;               // by est_wait_s, descending
  std::vector<int> stack_indices;            // Recording::stacks of its sampled waits
  uint64_t mutex_stacks = 0, condvar_stacks = 0, rwlock_stacks = 0, sem_stacks = 0, unwound_stacks = 0;
  // Sampled waits that acquire the lock shared (a reader-writer lock's read side:
  // pthread_rwlock_rdlock, shared_mutex::lock_shared, Rust's RwLock::read, parking_lot's
  // lock_shared, absl::Mutex::ReaderLock): those readers wait for a writer, not for
  // each other.
  uint64_t shared_stacks = 0;
  // Seconds the waiting threads existed in the profile (the denominator of wait share).
  double waiter_thread_s = 0;
  double wait_share() const { return waiter_thread_s > 0 ? total_wait_s / waiter_thread_s : 0; }
  // A lock library's own lock (lock_libraries.h), when most sampled waits show its
  // shape; and the waiters' CPU samples in that library (it spins before it sleeps),
  // counted after the memory samples are indexed (charge_library_lock_cpu).
  const LibraryInternalLock* internal = nullptr;
  uint64_t internal_stacks = 0;
  uint64_t library_cpu_samples = 0, library_cpu_of_samples = 0;  // in the library / all, of the waiters
  double library_cpu_s = 0;
  // What the lock costs its waiters: their waits, plus, for a library's internal lock,
  // their spinning in the library.
  double cost_s() const { return total_wait_s + library_cpu_s; }
  double cost_share() const { return waiter_thread_s > 0 ? cost_s() / waiter_thread_s : 0; }
};

// Sorted by total wait, descending. Needs the index's threads and symbols.
std::vector<LockInfo> build_lock_table(const Index& index);

// Counts each library-internal lock's waiters' CPU samples in its library (needs the
// memory index: run after index_memory).
void charge_library_lock_cpu(Index& index);

// Names the lock's data (symbol, or the member of a global object, else its region).
void name_lock_data(Symbolizer& sym, LockInfo& l);

// How a lock is named in text: its symbol, else its region.
std::string lock_display_name(const LockInfo& lock);
// The lock's row: findings.json's locks[] and every finding's evidence.lock (one shape).
nlohmann::json lock_to_json(const LockInfo& lock, const ThreadTable& threads);

}  // namespace ccprof::profiler
