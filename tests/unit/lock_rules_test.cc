// The lock-contention rule from recorded (synthetic) data: no root, no kernel.
#include "profiler/lock_rules.h"

#include <gtest/gtest.h>

#include "profiler/analysis.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

// `threads` threads live for 2 s; each waits `per_thread_wait_s` on one futex in
// `waits` waits with futex word value `val`, the owner being the next thread.
Recording contention(int threads, double per_thread_wait_s, int waits, uint32_t val = 2) {
  Recording r;
  r.start_ns = 10 * kSec;
  r.end_ns = 12 * kSec;
  ProcessInfo p;
  p.pid = 100;
  r.processes.push_back(p);
  for (int i = 0; i < threads; ++i) r.threads.push_back({100u + i, 100, "worker", r.start_ns, r.end_ns});
  uint64_t total = 0;
  for (int i = 0; i < threads; ++i)
    for (int k = 0; k < waits; ++k) {
      FutexWait w;
      w.uaddr = 0x5000;
      w.pid = 100;
      w.tid = 100 + i;
      w.owner_tid = 100 + (i + 1) % threads;
      w.expected = val;
      w.start_ns = r.start_ns + k * 1000;
      w.duration_ns = static_cast<uint64_t>(per_thread_wait_s * kSec / waits);
      total += w.duration_ns;
      r.futex_waits.push_back(w);
    }
  FutexAddrStats a;
  a.uaddr = 0x5000;
  a.pid = 100;
  a.waits = r.futex_waits.size();
  a.wait_ns = total;
  a.max_wait_ns = r.futex_waits.empty() ? 0 : r.futex_waits[0].duration_ns;
  r.futex_addrs.push_back(a);
  return r;
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

}  // namespace
}  // namespace ccprof::profiler
