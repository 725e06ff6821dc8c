#pragma once
// Lock libraries spin and yield before they sleep: oneTBB's tbb::mutex calls
// sched_yield() 32 times before its address wait, parking_lot's RawMutex::lock_slow up to
// 7 times before it parks. On a 2-CPU machine that yielding is most of their waiting
// (s01-tbb-mutex bad, 6 threads, 2 s: 565k yields for 8.6 thread-s against 0.5 s of
// futex sleep), so counting only the sleep misses a lock that costs the program 2.8x.
// The futex collector totals each thread's sched_yield() calls per (lock, caller)
// (model::LockYield); this charges those made by a lock library's code inside a probed
// slow path (parking_lot's lock_slow: the kernel knew the lock) to that lock, as waiting.
// Yields outside a slow path (tbb::mutex yields in its header code before it calls its
// probed address wait, where the mutex is not known) are charged by what else was seen
// of that same acquisition code: the acquisition function (the yield's caller) is the
// site; the locks whose sampled waits' stacks pass through it (its probed address wait
// names the mutex) and the data addresses of the memory sampler's accesses made there
// (tbb::mutex::lock re-reads its flag after every yield) name the locks it takes. A site
// whose evidence all names one lock, often enough (thresholds.h), gets its yields
// charged to that lock; a site that took several (one lock() shared by 64 shards) is
// marked (locks.yields_site_several_locks), never split by guess; the rest is counted
// (locks.yields_unattributed). Without those two guards (several locks: none charged;
// at least 20 pieces of evidence) it was wrong: on a busy 2-CPU VM the sharded twin's
// yields for 64 mutexes (9.7 s) all went to the one shard whose waits had been sampled.
// A program's own sched_yield() calls (not a lock library's) are not lock waits.
// A lock that never sleeps (tbb::spin_mutex: pause, then sched_yield(), never a futex)
// has no row: its site's code names it instead, when the lock library's exchange there
// has a static address (lock_code.h), and a row is made for it from its yields. A
// site whose exchange goes through a register (the sharded twin: g_shards[hash % 64])
// names no lock: its sampled accesses decide as above, else it is marked several-locks.
// Yield time is then per lock, which is what tells contention on an oversubscribed VM:
// the sharded twin yields as long as the bad one (holders preempted mid-section), but
// over 64 locks, so no lock gets it.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "profiler/lock_table.h"

namespace ccprof::profiler {

// One model::LockYield, resolved through the symbols.
struct ResolvedYield {
  uint32_t pid = 0, tid = 0;
  uint64_t lock = 0;           // the lock table's key address of the slow path's lock; 0 = none
  bool lock_library = false;   // the calling code is a lock library's (lock_libraries.h)
  std::string site;            // the function of the calling code (outermost inline level)
  uint64_t yields = 0;
  double yield_s = 0;
  // The lock words the site's own lock library code exchanges, decoded from its code
  // (lock_code.h; lock table keys): one static word and none computed is the lock
  // the site spins on, whether or not it ever slept; `where` is the user's line there.
  std::set<uint64_t> exchanged_words;
  int computed_words = 0;
  CodeLocation where;
  uint64_t caller = 0;  // the yield's return address (in the acquisition loop, for a spin row's site)
};

struct YieldCharge {
  uint64_t charged = 0, unattributed = 0;  // yields
  double charged_s = 0, unattributed_s = 0;
  uint64_t charged_by_site = 0;  // of charged: by their site's evidence (no slow path)
  uint64_t charged_by_code = 0;  // of charged_by_site: by the word the site's code exchanges
  int spin_locks = 0;            // lock rows made for locks seen only spinning (no futex wait)
  uint64_t several_locks = 0;    // of unattributed: their site was seen taking several locks
  double several_locks_s = 0;
};

// (pid, acquisition function) -> the locks (lock table keys) its sampled wait stacks and
// the sampled accesses of a lock library's code there named, and how often each.
using SpinSites = std::map<std::pair<uint32_t, std::string>, std::map<uint64_t, uint64_t>>;

// Charges `yields` to `locks` (see above) and sorts them again by wait; `lifetime_s` is a
// thread's lifetime (the wait share's denominator grows by it when a lock gains a waiter).
YieldCharge charge_yields(std::vector<LockInfo>& locks, const std::vector<ResolvedYield>& yields,
                          const std::function<double(uint32_t)>& lifetime_s, const SpinSites& spin_sites = {});

class Index;
// Resolves the recording's lock_yields through the index's symbols, charges
// them to idx.locks (sorted again by wait) and counts what stayed unattributed.
void charge_lock_yields(Index& idx);

}  // namespace ccprof::profiler
