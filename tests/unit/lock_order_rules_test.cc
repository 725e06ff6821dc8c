// lock-order-inversion from recorded (synthetic) lock orders: no root, no kernel.
#include <gtest/gtest.h>

#include "profiler/analysis.h"
#include "profiler/lock_rules.h"
#include "tests/unit/rule_test_util.h"
#include "tests/unit/recording_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kA = 0x5000, kB = 0x6000;

// Two threads, 101 and 102, with the lock orders `orders` seen in 40 ms of windows.
Recording with_orders(std::vector<model::LockOrderPair> orders, bool measured = true) {
  Recording r = model::two_second_recording({{101, "transfer"}, {102, "audit"}});
  r.has_lockrate = true;
  r.lockrate.window_s = 0.04;
  r.has_lockhold = measured;
  r.lockhold.window_s = 0.04;
  r.lockhold.order = std::move(orders);
  return r;
}

model::LockOrderPair order(uint32_t tid, uint64_t first, uint64_t second, uint64_t n, bool trylock = false) {
  return {100, tid, first, 0x1000 + tid, second, 0x2000 + tid, trylock, n};
}

TEST(LockOrderRules, OppositeOrdersInTwoThreadsAreAnInversion) {
  auto fs = run_rule("lock-order-inversion", Index(with_orders({order(101, kA, kB, 400), order(102, kB, kA, 30)})));
  ASSERT_EQ(fs.size(), 1u);
  const Finding& f = fs[0];
  EXPECT_EQ(f.kind, "lock-order-inversion");
  EXPECT_EQ(f.scenario, 15);
  EXPECT_EQ(f.remedy.kind, "one-lock-order");
  EXPECT_EQ(f.subject.address, kA);
  EXPECT_EQ(f.confidence, "high");
  ASSERT_EQ(f.evidence["orders"].size(), 2u);
  EXPECT_EQ(f.evidence["orders"][0]["tid"], 101);
  EXPECT_EQ(f.evidence["orders"][0]["count"], 400);
  EXPECT_EQ(f.evidence["orders"][1]["tid"], 102);
  EXPECT_EQ(f.evidence["orders"][1]["count"], 30);
  // Both second acquisitions and both first ones.
  EXPECT_EQ(f.locations.size(), 4u);
  EXPECT_NE(f.explanation.find("thread 101 (transfer)"), std::string::npos) << f.explanation;
  EXPECT_NE(f.explanation.find("thread 102 (audit)"), std::string::npos) << f.explanation;
  EXPECT_NE(f.explanation.find("400 times"), std::string::npos) << f.explanation;
}

TEST(LockOrderRules, OneGlobalOrderIsNot) {
  EXPECT_TRUE(
      run_rule("lock-order-inversion", Index(with_orders({order(101, kA, kB, 400), order(102, kA, kB, 300)}))).empty());
}

TEST(LockOrderRules, OneThreadInBothOrdersIsNotTwoThreads) {
  EXPECT_TRUE(
      run_rule("lock-order-inversion", Index(with_orders({order(101, kA, kB, 400), order(101, kB, kA, 3)}))).empty());
}

TEST(LockOrderRules, ATrylockCannotWaitSoItIsNoInversion) {
  EXPECT_TRUE(run_rule("lock-order-inversion",
                       Index(with_orders({order(101, kA, kB, 400), order(102, kB, kA, 30, /*trylock=*/true)})))
                  .empty());
}

TEST(LockOrderRules, FewObservationsAreMediumConfidence) {
  auto fs = run_rule("lock-order-inversion", Index(with_orders({order(101, kA, kB, 2), order(102, kB, kA, 1)})));
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].confidence, "medium");
}

TEST(LockOrderRules, NotMeasuredRaisesNothing) {
  Recording r = with_orders({order(101, kA, kB, 400), order(102, kB, kA, 30)}, /*measured=*/false);
  EXPECT_TRUE(analyze(r).findings.empty());
}

}  // namespace
}  // namespace ccprof::profiler
