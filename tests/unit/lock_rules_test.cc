// The lock-contention rule from recorded (synthetic) data: no root, no kernel.
#include "profiler/lock_rules.h"

#include <gtest/gtest.h>

#include <memory>

#include "profiler/analysis.h"
#include "profiler/catalog.h"
#include "tests/unit/rule_test_util.h"
#include "tests/unit/recording_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

// `threads` threads live for 2 s; each waits `per_thread_wait_s` on one futex in
// `waits` waits with futex word value `val`, the owner being the next thread.
Recording contention(int threads, double per_thread_wait_s, int waits, uint32_t val = 2) {
  return model::lock_contention_recording(threads, per_thread_wait_s, waits, val);
}

TEST(LockRules, ContendedMutexRaisesLockContentionWithItsNumbers) {
  Recording r = contention(4, 0.5, 200);
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 1u);
  const Finding& f = a.findings[0];
  EXPECT_EQ(f.kind, "lock-contention");
  EXPECT_EQ(f.scenario, 1);
  EXPECT_EQ(f.remedy.kind, "shard");
  EXPECT_NEAR(f.cost_thread_s, 2.0, 1e-6);
  EXPECT_NEAR(f.cost_share, 0.25, 1e-6);  // 2 s of 8 thread-seconds
  const auto& lock = f.evidence["lock"];
  EXPECT_EQ(lock["waits"], 800);
  EXPECT_EQ(lock["type"], "mutex");
  EXPECT_EQ(lock["waiters"].size(), 4u);
  EXPECT_EQ(lock["owners"].size(), 4u);
  EXPECT_NE(f.explanation.find("4 threads waited 2.000 s"), std::string::npos) << f.explanation;
  EXPECT_NE(f.explanation.find("25%"), std::string::npos) << f.explanation;
}

// A lock without an owner field (Rust std, parking_lot, absl::Mutex): no __owner, but
// each woken wait names the thread whose FUTEX_WAKE ended it; those released the lock.
TEST(LockRules, LockWithoutOwnerFieldIsHeldByItsWakers) {
  Recording r = contention(4, 0.5, 200);
  for (size_t i = 0; i < r.futex_waits.size(); ++i) {
    FutexWait& w = r.futex_waits[i];
    w.waker_tid = static_cast<uint32_t>(w.owner_tid);
    w.owner_tid = 0;
    w.word = 0x9000 + 64 * (w.tid - 100);  // each waiter sleeps on its own word
    w.ret = i % 2 ? 0 : -11;                // half never slept (EAGAIN): no waker
    if (w.ret) w.waker_tid = 0;
  }
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 1u);
  const Finding& f = a.findings[0];
  const auto& lock = f.evidence["lock"];
  EXPECT_EQ(lock["owner_source"], "waker");
  EXPECT_EQ(lock["owners"].size(), 4u);
  EXPECT_EQ(lock["wakers"].size(), 4u);
  EXPECT_EQ(lock["woken_waits"], 400);
  EXPECT_EQ(lock["waits_with_waker"], 400);
  EXPECT_EQ(lock["waits_on_other_words"], 800);
  EXPECT_NE(f.explanation.find("4 different threads released it"), std::string::npos) << f.explanation;
}

// Where both exist (glibc), the owner field stays the evidence and the agreement of
// the two is counted: each wait here was woken by the thread that held the lock.
TEST(LockRules, OwnerFieldAndWakerAreComparedPerWait) {
  Recording r = contention(4, 0.5, 200);
  for (size_t i = 0; i < r.futex_waits.size(); ++i) {
    FutexWait& w = r.futex_waits[i];
    w.waker_tid = i % 4 ? static_cast<uint32_t>(w.owner_tid) : w.tid;  // every 4th: itself, not valid
    if (i % 4 == 1) w.waker_tid = 100 + (w.tid - 100 + 2) % 4;          // another thread released it
  }
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 1u);
  const auto& lock = a.findings[0].evidence["lock"];
  EXPECT_EQ(lock["owner_source"], "owner field");
  EXPECT_EQ(lock["owner_and_waker"], 600);
  EXPECT_EQ(lock["owner_is_waker"], 400);
}

TEST(LockRules, HandoverIsTheTimeFromTheReleasersWakeToTheWaitersReturn) {
  Recording r = contention(4, 0.5, 200);
  for (size_t i = 0; i < r.futex_waits.size(); ++i) {
    FutexWait& w = r.futex_waits[i];
    w.waker_tid = static_cast<uint32_t>(w.owner_tid);
    const uint64_t end = w.start_ns + w.duration_ns;
    if (i % 4 == 0) w.woken_ns = end - 20'000;           // woken 20 us before it returned
    if (i % 4 == 1) w.woken_ns = w.start_ns - 1;         // a wake before the wait: not its own
    if (i % 4 == 2) w.woken_ns = end - 20'000, w.waker_tid = 0;  // no waker: not a handover
    // i % 4 == 3: no wake time (a recording from before it)
  }
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 1u);
  const auto& lock = a.findings[0].evidence["lock"];
  EXPECT_EQ(lock["handovers"], 200);
  EXPECT_NEAR(lock["handover_s"].get<double>(), 200 * 20e-6, 1e-9);
}

TEST(LockRules, SmallWaitShareDoesNotFire) {
  // 4 threads x 0.01 s of 2 s = 0.5%: below kLockContentionMinShare.
  Analysis a = analyze(contention(4, 0.01, 50));
  EXPECT_TRUE(a.findings.empty());
}

TEST(LockRules, OneWaiterIsNotContention) {
  Analysis a = analyze(contention(1, 1.0, 100));
  EXPECT_TRUE(a.findings.empty());
}

TEST(LockRules, FutexThatIsNotAMutexDoesNotFireWithoutStacks) {
  // Condition-variable futex words are not 2; without stacks the type stays "futex".
  Analysis a = analyze(contention(4, 0.5, 200, /*val=*/7));
  EXPECT_TRUE(a.findings.empty());
  ASSERT_EQ(a.tables["locks"].size(), 1u);
  EXPECT_EQ(a.tables["locks"][0]["type"], "futex");
}

TEST(LockRules, OwnersThatAreNotTargetThreadsAreIgnored) {
  Recording r = contention(4, 0.5, 200);
  for (auto& w : r.futex_waits) w.owner_tid = 99999;  // garbage at offset 8
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_TRUE(a.findings[0].evidence["lock"]["owners"].empty());
  EXPECT_EQ(a.findings[0].evidence["lock"]["waits_with_owner"], 0);
}

TEST(LockRules, RankingPutsTheCostliestLockFirst) {
  Recording r = contention(4, 0.3, 100);
  Recording r2 = contention(4, 0.6, 100);
  for (auto w : r2.futex_waits) {
    w.uaddr = 0x6000;
    r.futex_waits.push_back(w);
  }
  auto a2 = r2.futex_addrs[0];
  a2.uaddr = 0x6000;
  r.futex_addrs.push_back(a2);
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 2u);
  EXPECT_EQ(a.findings[0].evidence["lock"]["address"], "0x6000");
  EXPECT_GT(a.findings[0].cost_thread_s, a.findings[1].cost_thread_s);
}

// A 2 s profile of 4 threads (pid 1, tids 1-4) to hand-build lock table rows for.
struct FourThreads {
  Recording r;
  std::unique_ptr<Index> index;
  FourThreads() {
    r.start_ns = 0;
    r.end_ns = 2 * kSec;
    for (uint32_t t = 1; t <= 4; ++t) r.threads.push_back({t, 1, "w", 0, 0});
    index = std::make_unique<Index>(r);
  }
  FourThreads(const FourThreads&) = delete;
};

// A mutex row of process 1 at `uaddr`: `waits` waits of the 4 threads, `wait_s` in all
// over their 8 thread-seconds.
LockInfo mutex_row(uint64_t uaddr, uint64_t waits, double wait_s) {
  LockInfo l;
  l.pid = 1;
  l.uaddr = uaddr;
  l.type = "mutex";
  l.waits = waits;
  l.total_wait_s = wait_s;
  for (uint32_t t = 1; t <= 4; ++t) l.waiters[t] = {waits / 4, wait_s / 4};
  l.waiter_thread_s = 8;
  return l;
}

// The rule alone, from a hand-built lock table row.
TEST(LockRules, TheRuleReadsTheLockTableRow) {
  FourThreads p;
  Index& idx = *p.index;
  LockInfo l = mutex_row(0x7000, 400, 1.6);
  l.data.name = "g_stats_mutex";
  idx.locks = {l};
  auto fs = run_rule("lock-contention", idx);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].subject.kind, SubjectKind::kLock);
  EXPECT_EQ(fs[0].subject.address, 0x7000u);
  EXPECT_EQ(fs[0].subject.name, "g_stats_mutex");
  EXPECT_NEAR(fs[0].cost_share, 0.2, 1e-9);
  EXPECT_EQ(fs[0].evidence["lock"]["name"], "g_stats_mutex");
  // The same lock as a condition variable: idle time, not contention.
  idx.locks[0].type = "condvar";
  EXPECT_TRUE(run_rule("lock-contention", idx).empty());
}

// A lock that only spun (tbb::spin_mutex: its yields, no futex wait) has no owner field
// and no wake: the finding says no owner is known, and predicts from the yields.
TEST(LockRules, ASpinOnlyLockSaysItsOwnerIsNotKnown) {
  FourThreads p;
  Index& idx = *p.index;
  LockInfo l = mutex_row(0x7000, 0, 4.0);
  l.yields = 40000;
  l.yield_s = 4.0;
  l.data.name = "g_table";
  idx.locks = {l};
  auto fs = run_rule("lock-contention", idx);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].evidence["lock"]["owner_source"], "none");
  EXPECT_NE(fs[0].explanation.find("40000 sched_yield() calls"), std::string::npos) << fs[0].explanation;
  EXPECT_NE(fs[0].explanation.find("Which threads held it is not known"), std::string::npos) << fs[0].explanation;
  EXPECT_EQ(fs[0].explanation.find("only 0 waits"), std::string::npos) << fs[0].explanation;
}

// Abseil's deadlock-detection lock (a lock library's own lock): the waits alone are
// small (the SpinLock spins first), its waiters' spinning in Abseil counts with them, the
// remedy is the library's configuration, and no rule that changes the program's locking
// (read-mostly-lock, lock-for-single-word, ...) takes it as the program's lock.
TEST(LockRules, ALockLibrarysOwnLockCountsItsSpinningAndNamesTheLibrarysRemedy) {
  FourThreads p;
  Index& idx = *p.index;
  LockInfo l = mutex_row(0x7f0000011148, 150000, 0.2);  // 2.5%: below kLockContentionMinShare alone
  l.data.region = "global";
  l.data.module = "/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623.0.0";
  l.data.region_detail = "libabsl_synchronization.so.20220623.0.0+0x11148 (static data, no symbol)";
  idx.locks = {l};
  EXPECT_TRUE(run_rule("lock-contention", idx).empty());
  idx.locks[0].internal = &library_internal_locks().at(0);
  idx.locks[0].internal_stacks = 300;
  idx.locks[0].unwound_stacks = 300;
  idx.locks[0].library_cpu_samples = 1700;
  idx.locks[0].library_cpu_of_samples = 2000;
  idx.locks[0].library_cpu_s = 1.7;
  auto fs = run_rule("lock-contention", idx);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].remedy.kind, "disable-debug-checks");
  EXPECT_NE(fs[0].remedy.text.find("SetMutexDeadlockDetectionMode"), std::string::npos) << fs[0].remedy.text;
  EXPECT_EQ(fs[0].subject.name, "Abseil's deadlock-detection lock");
  EXPECT_NEAR(fs[0].cost_thread_s, 1.9, 1e-9);  // 0.2 s of waits + 1.7 s spinning in Abseil
  EXPECT_NE(fs[0].explanation.find("85% of the waiting threads' CPU samples (1700 of 2000"), std::string::npos)
      << fs[0].explanation;
  EXPECT_EQ(fs[0].evidence["lock"]["library_internal"]["library"], "Abseil");
  EXPECT_TRUE(contended_locks(idx.locks, 8).empty());  // never the program's own lock
}

// stdout's lock, taken inside printf on the program's behalf (libc's static
// _IO_stdfile_1_lock; another FILE's lock by the stdio function it was taken in): the
// remedy is fewer writes to the shared stream (batch), not sharding a lock the program
// does not have. A program's own lock taken inside its own helper stays "shard".
TEST(LockRules, StdoutsLockTakenInsidePrintfIsBatchedNotSharded) {
  FourThreads p;
  Index& idx = *p.index;
  LockInfo l = mutex_row(0x7f00001d4a70, 400, 1.6);
  l.data.name = "_IO_stdfile_1_lock";
  l.data.region = "global";
  LockSite site;
  site.loc.function = "worker";
  site.stacks = 10;
  site.via = "printf";
  l.sites = {site};
  idx.locks = {l};
  auto fs = run_rule("lock-contention", idx);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].remedy.kind, "batch");
  EXPECT_EQ(fs[0].title, "Threads serialise on stdout's lock (taken inside printf)");
  EXPECT_EQ(fs[0].evidence["taken_inside"], "printf");
  // Another FILE (a heap lock) through fputs: its FILE's lock.
  idx.locks[0].data.name.clear();
  idx.locks[0].data.region = "heap";
  idx.locks[0].sites[0].via = "_IO_fputs";
  fs = run_rule("lock-contention", idx);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].remedy.kind, "batch");
  EXPECT_EQ(fs[0].title, "Threads serialise on a FILE's lock (taken inside _IO_fputs)");
  // The program's own lock, taken in its own helper: shard, as before.
  idx.locks[0].data.name = "g_table_mutex";
  idx.locks[0].data.region = "global";
  idx.locks[0].sites[0].via = "count_locked";
  fs = run_rule("lock-contention", idx);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].remedy.kind, "shard");
}

Finding on_lock(const char* kind, uint64_t address, double cost, bool explains = true) {
  Finding f = new_finding(kind);
  f.subject = {SubjectKind::kLock, 1, address, "m"};
  f.cost_thread_s = cost;
  f.explains_subject = explains;
  return f;
}

TEST(Arbitration, ASpecificFindingReplacesLockContentionOnTheSameLock) {
  std::vector<Finding> fs = {on_lock("lock-contention", 0x10, 2.0), on_lock("lock-held-across-io", 0x10, 1.9),
                             on_lock("lock-contention", 0x20, 0.5)};
  arbitrate(fs);
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_EQ(fs[0].kind, "lock-held-across-io");
  EXPECT_EQ(fs[1].kind, "lock-contention");
  EXPECT_EQ(fs[1].subject.address, 0x20u);
}

TEST(Arbitration, AFindingThatExplainsTooLittleLeavesLockContention) {
  std::vector<Finding> fs = {on_lock("lock-contention", 0x10, 2.0),
                             on_lock("lock-held-across-io", 0x10, 0.4, /*explains=*/false)};
  arbitrate(fs);
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_EQ(fs[0].kind, "lock-contention");  // ranked by cost
}

}  // namespace
}  // namespace ccprof::profiler
