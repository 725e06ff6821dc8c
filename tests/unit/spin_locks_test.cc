// The names that make an out-of-line function a lock's acquisition (spin_locks.h).
#include "profiler/spin_locks.h"

#include <gtest/gtest.h>

namespace ccprof::profiler {
namespace {

TEST(SpinLockNames, LockFunctionsByTheirWords) {
  for (const char* n : {"SpinLock::lock()", "spin_lock", "corpus::Ticket::acquire(int)", "RwSpin::lockExclusive()",
                        "Spinlock::lock_shared()", "my_spinlock", "LOCK", "Pool<int>::lock()"})
    EXPECT_TRUE(looks_like_lock_function(n)) << n;
  for (const char* n : {"SpinLock::unlock()", "Queue::push_block(Item*)", "clock_tick", "Stack::push()", "blocked",
                        "Lockable<int>::size()", "unlock_all"})
    EXPECT_FALSE(looks_like_lock_function(n)) << n;
}

}  // namespace
}  // namespace ccprof::profiler
