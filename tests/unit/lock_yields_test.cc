#include "profiler/lock_yields.h"

#include <gtest/gtest.h>

#include "model/recording.h"
#include "profiler/lock_rules.h"
#include "profiler/thresholds.h"
#include "recording_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint32_t kPid = 100;

// A mutex of process kPid at `uaddr` waited on by threads 1 and 2 (0.125 s of futex
// sleep each) over 2 s lifetimes.
LockInfo mutex_at(uint64_t uaddr, std::string type = "mutex") {
  LockInfo l;
  l.pid = kPid;
  l.uaddr = uaddr;
  l.type = std::move(type);
  l.waits = 20;
  l.total_wait_s = 0.25;
  l.waiters[1] = {10, 0.125};
  l.waiters[2] = {10, 0.125};
  l.waiter_thread_s = 4;
  LockSite s;
  s.share = 1;
  s.est_wait_s = 0.25;
  l.sites.push_back(s);
  return l;
}

ResolvedYield yield(uint32_t tid, uint64_t lock, double s, bool lock_library = true) {
  return {.pid = kPid, .tid = tid, .lock = lock, .lock_library = lock_library, .yields = 1000, .yield_s = s};
}

double two_seconds(uint32_t) { return 2.0; }

TEST(LockYields, YieldsInsideASlowPathAreChargedToItsLock) {
  std::vector<LockInfo> locks = {mutex_at(0x1000), mutex_at(0x2000)};
  const YieldCharge c = charge_yields(locks, {yield(1, 0x2000, 0.5), yield(3, 0x2000, 0.5)}, two_seconds);
  EXPECT_EQ(c.charged, 2000u);
  EXPECT_EQ(c.unattributed, 0u);
  // sorted again: the lock that gained the yields is first
  ASSERT_EQ(locks[0].uaddr, 0x2000u);
  EXPECT_DOUBLE_EQ(locks[0].total_wait_s, 1.25);
  EXPECT_DOUBLE_EQ(locks[0].yield_s, 1.0);
  EXPECT_EQ(locks[0].yields, 2000u);
  EXPECT_EQ(locks[0].waits, 20u);  // yields are not futex waits
  // thread 3 only yielded: a waiter now, and its lifetime is in the share's denominator
  ASSERT_EQ(locks[0].waiters.size(), 3u);
  EXPECT_DOUBLE_EQ(locks[0].waiters[1].wait_s, 0.625);
  EXPECT_DOUBLE_EQ(locks[0].waiter_thread_s, 6);
  EXPECT_DOUBLE_EQ(locks[0].sites[0].est_wait_s, 1.25);
  EXPECT_DOUBLE_EQ(locks[1].total_wait_s, 0.25);
}

TEST(LockYields, YieldsOutsideASlowPathAreChargedToNoLock) {
  // tbb::mutex yields before its probed address wait: which mutex is not known there, and
  // guessing the one lock whose waits were sampled put a sharded table's yields on one shard.
  std::vector<LockInfo> locks = {mutex_at(0x1000)};
  const YieldCharge c = charge_yields(locks, {yield(1, 0, 0.75)}, two_seconds);
  EXPECT_EQ(c.charged, 0u);
  EXPECT_EQ(c.unattributed, 1000u);
  EXPECT_DOUBLE_EQ(c.unattributed_s, 0.75);
  EXPECT_DOUBLE_EQ(locks[0].total_wait_s, 0.25);
  EXPECT_EQ(locks[0].yields, 0u);
}

TEST(LockYields, ASlowPathsLockWithoutARowGetsNothing) {
  // A lock that only yielded and never slept has no row (no type, no site): counted.
  std::vector<LockInfo> locks = {mutex_at(0x1000)};
  EXPECT_EQ(charge_yields(locks, {yield(1, 0x9000, 0.75)}, two_seconds).unattributed, 1000u);
  // ...nor does another process's lock at the same address.
  ResolvedYield other = yield(1, 0x1000, 0.75);
  other.pid = kPid + 1;
  EXPECT_EQ(charge_yields(locks, {other}, two_seconds).unattributed, 1000u);
  EXPECT_DOUBLE_EQ(locks[0].total_wait_s, 0.25);
}

TEST(LockYields, TheProgramsOwnYieldsAreNotLockWaits) {
  std::vector<LockInfo> locks = {mutex_at(0x1000)};
  const YieldCharge c = charge_yields(locks, {yield(1, 0x1000, 0.75, false)}, two_seconds);
  EXPECT_EQ(c.charged + c.unattributed, 0u);
  EXPECT_DOUBLE_EQ(locks[0].total_wait_s, 0.25);
}

TEST(LockYields, YieldTimeMakesASpinningLockContended) {
  // The futex sleep alone is 3.75% of 4 thread-s, under lock-contention's 5% floor...
  std::vector<LockInfo> locks = {mutex_at(0x1000)};
  locks[0].total_wait_s = 0.15;
  locks[0].waiter_thread_s = 4;
  EXPECT_FALSE(is_contended(locks[0], 4));
  // ...its library's yields while spinning for it are the rest of its cost.
  charge_yields(locks, {yield(1, 0x1000, 2.0)}, two_seconds);
  EXPECT_TRUE(is_contended(locks[0], 4));
}

// tbb::mutex: the yields come from its out-of-line lock(), where the mutex is not known;
// the memory sampler's accesses made by that same code name the word it spins on.
TEST(LockYields, YieldsOfASiteThatSpunOnOneLockAreCharged) {
  const std::string site = "tbb::detail::d1::mutex::lock()";
  ResolvedYield y = yield(1, 0, 0.75);
  y.site = site;
  std::vector<LockInfo> locks = {mutex_at(0x1000), mutex_at(0x2000)};
  YieldCharge c = charge_yields(locks, {y}, two_seconds, {{{kPid, site}, {{0x2000, 40}}}});
  EXPECT_EQ(c.charged, 1000u);
  EXPECT_EQ(c.charged_by_site, 1000u);
  ASSERT_EQ(locks[0].uaddr, 0x2000u);
  EXPECT_DOUBLE_EQ(locks[0].yield_s, 0.75);
  EXPECT_DOUBLE_EQ(locks[1].yield_s, 0);
  // Too few samples to say the site spun on that lock alone: counted, not charged.
  locks = {mutex_at(0x2000)};
  c = charge_yields(locks, {y}, two_seconds, {{{kPid, site}, {{0x2000, thresholds::kYieldSiteMinSamples - 1}}}});
  EXPECT_EQ(c.charged, 0u);
  EXPECT_EQ(c.unattributed, 1000u);
  EXPECT_EQ(c.several_locks, 0u);
  // Another site's samples, or another process's, say nothing about this one.
  c = charge_yields(locks, {y}, two_seconds, {{{kPid, "count_word_sharded"}, {{0x2000, 40}}}});
  EXPECT_EQ(c.charged, 0u);
  c = charge_yields(locks, {y}, two_seconds, {{{kPid + 1, site}, {{0x2000, 40}}}});
  EXPECT_EQ(c.charged, 0u);
  // The word it spun on has no lock row (it never slept): nothing to charge.
  c = charge_yields(locks, {y}, two_seconds, {{{kPid, site}, {{0x3000, 40}}}});
  EXPECT_EQ(c.charged, 0u);
  EXPECT_DOUBLE_EQ(locks[0].yield_s, 0);
}

// The sharded twin: one lock() for 64 mutexes. Its samples touch several words: the
// yields are marked, never given to the shard with the most samples.
TEST(LockYields, YieldsOfASiteThatSpunOnSeveralLocksAreMarked) {
  const std::string site = "tbb::detail::d1::mutex::lock()";
  ResolvedYield y = yield(1, 0, 0.75);
  y.site = site;
  std::vector<LockInfo> locks = {mutex_at(0x1000), mutex_at(0x2000)};
  const YieldCharge c = charge_yields(locks, {y}, two_seconds, {{{kPid, site}, {{0x1000, 200}, {0x2000, 1}}}});
  EXPECT_EQ(c.charged, 0u);
  EXPECT_EQ(c.unattributed, 1000u);
  EXPECT_EQ(c.several_locks, 1000u);
  EXPECT_DOUBLE_EQ(c.several_locks_s, 0.75);
  EXPECT_DOUBLE_EQ(locks[0].yield_s + locks[1].yield_s, 0);
}

// tbb::spin_mutex: it never sleeps, so no row exists; the site's inlined lock()
// exchanges one static word (lock_code.h): a row is made for it from the yields of
// every thread that spun there, at the user's line, and that is lock contention.
TEST(LockYields, ALockSeenOnlySpinningGetsARowFromItsSitesExchange) {
  const std::string site = "count_word_shared(std::string const&)";
  std::vector<ResolvedYield> ys;
  for (uint32_t tid : {1u, 2u, 3u}) {
    ResolvedYield y = yield(tid, 0, 1.0);
    y.site = site;
    y.exchanged_words = {0x5000};
    y.where.function = "count_word_shared";
    y.where.file = "s01_tbb_spin_mutex.cc";
    y.where.line = 22;
    ys.push_back(y);
  }
  std::vector<LockInfo> locks = {mutex_at(0x1000)};
  const YieldCharge c = charge_yields(locks, ys, two_seconds);
  EXPECT_EQ(c.charged, 3000u);
  EXPECT_EQ(c.charged_by_code, 3000u);
  EXPECT_EQ(c.spin_locks, 1);
  ASSERT_EQ(locks.size(), 2u);
  const LockInfo& l = locks[0];  // sorted again: it waited most
  EXPECT_EQ(l.uaddr, 0x5000u);
  EXPECT_EQ(l.type, "mutex");
  EXPECT_EQ(l.waits, 0u);
  EXPECT_EQ(l.waiters.size(), 3u);
  EXPECT_DOUBLE_EQ(l.total_wait_s, 3.0);
  EXPECT_DOUBLE_EQ(l.waiter_thread_s, 6.0);
  ASSERT_EQ(l.sites.size(), 1u);
  EXPECT_EQ(l.sites[0].loc.line, 22);
  EXPECT_DOUBLE_EQ(l.sites[0].share, 1.0);
  EXPECT_DOUBLE_EQ(l.sites[0].est_wait_s, 3.0);
  EXPECT_TRUE(is_contended(l, 6));
  EXPECT_EQ(l.owner_source, "none");  // no owner field, no wake
  EXPECT_TRUE(l.owners.empty());
  // The futex lock kept its own wait.
  EXPECT_DOUBLE_EQ(locks[1].total_wait_s, 0.25);
}

// The site's exchange names a lock that has a futex row: its yields go there, no new row.
TEST(LockYields, ASitesExchangeOfAKnownLockChargesThatLock) {
  ResolvedYield y = yield(1, 0, 0.5);
  y.site = "count_word_shared";
  y.exchanged_words = {0x2000};
  std::vector<LockInfo> locks = {mutex_at(0x1000), mutex_at(0x2000)};
  const YieldCharge c = charge_yields(locks, {y}, two_seconds);
  EXPECT_EQ(c.spin_locks, 0);
  ASSERT_EQ(locks.size(), 2u);
  EXPECT_EQ(locks[0].uaddr, 0x2000u);
  EXPECT_DOUBLE_EQ(locks[0].yield_s, 0.5);
  EXPECT_EQ(locks[0].sites.size(), 1u);  // its sites are its sampled waits'
}

// Never a guess: a site exchanging two static words is marked; a site whose exchange is
// computed (the sharded twin) names no lock and, with no sampled evidence, stays counted.
TEST(LockYields, ASitesExchangesThatNameNoOneLockChargeNothing) {
  ResolvedYield two = yield(1, 0, 0.5);
  two.site = "take_both";
  two.exchanged_words = {0x5000, 0x6000};
  ResolvedYield computed = yield(2, 0, 0.5);
  computed.site = "count_word_sharded";
  computed.computed_words = 1;
  ResolvedYield mixed = yield(3, 0, 0.5);
  mixed.site = "take_one_or_a_shard";
  mixed.exchanged_words = {0x5000};
  mixed.computed_words = 1;
  std::vector<LockInfo> locks = {mutex_at(0x1000)};
  const YieldCharge c = charge_yields(locks, {two, computed, mixed}, two_seconds);
  EXPECT_EQ(c.charged, 0u);
  EXPECT_EQ(c.spin_locks, 0);
  EXPECT_EQ(c.several_locks, 1000u);
  EXPECT_EQ(c.unattributed, 3000u);
  EXPECT_EQ(locks.size(), 1u);
}

TEST(LockYields, RecordingKeepsTheYieldTotals) {
  model::Recording r = model::two_second_recording({{1, "worker"}});
  r.lock_yields.push_back({.pid = kPid, .tid = 1, .lock = 0x1000, .caller = 0x401234, .yields = 7, .yield_ns = 9000});
  auto back = model::round_trip(r, "lock_yields");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->lock_yields.size(), 1u);
  EXPECT_EQ(back->lock_yields[0].caller, 0x401234u);
  EXPECT_EQ(back->lock_yields[0].yield_ns, 9000u);
  EXPECT_EQ(back->lock_yields[0].lock, 0x1000u);
}

}  // namespace
}  // namespace ccprof::profiler
