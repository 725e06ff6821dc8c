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

// -O0's out-of-line lock function: its loop is charged to the one word its sampled
// addresses name, given enough of them; spinning over several words (a sharded table's,
// holders preempted) or with too few addresses is counted, never charged by guess.
TEST(SpinLoopWord, OneWordWithEnoughAddressesOnly) {
  const SpinLoopWord one = spin_loop_word({{0x1000, kMinSpinLoopAddresses}});
  EXPECT_EQ(one.word, 0x1000u);
  EXPECT_EQ(one.loss, nullptr);
  const SpinLoopWord few = spin_loop_word({{0x1000, kMinSpinLoopAddresses - 1}});
  EXPECT_EQ(few.word, 0u);
  EXPECT_STREQ(few.loss, "locks.spin_samples_word_unknown");
  EXPECT_STREQ(spin_loop_word({}).loss, "locks.spin_samples_word_unknown");
  // 20 addresses on one shard and 1 on another: the split is not known, whatever the counts.
  const SpinLoopWord several = spin_loop_word({{0x1000, 20}, {0x1040, 1}});
  EXPECT_EQ(several.word, 0u);
  EXPECT_STREQ(several.loss, "locks.spin_samples_over_several_words");
}

}  // namespace
}  // namespace ccprof::profiler
