// handoff-stall and per-item-synchronization from recorded (synthetic) data.
#include "profiler/queue_rules.h"

#include <gtest/gtest.h>

#include "tests/unit/rule_test_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

void add_waits(Recording& r, uint64_t uaddr, uint32_t tid, int n, double total_s, uint32_t val = 0) {
  FutexAddrStats* a = nullptr;
  for (auto& x : r.futex_addrs)
    if (x.uaddr == uaddr) a = &x;
  if (!a) {
    r.futex_addrs.push_back({});
    a = &r.futex_addrs.back();
    a->uaddr = uaddr;
    a->pid = 100;
  }
  for (int i = 0; i < n; ++i) {
    FutexWait w;
    w.uaddr = uaddr;
    w.pid = 100;
    w.tid = tid;
    w.expected = val;
    w.start_ns = r.start_ns + i;
    w.duration_ns = static_cast<uint64_t>(total_s * kSec / n);
    r.futex_waits.push_back(w);
    a->waits++;
    a->wait_ns += w.duration_ns;
  }
}

Recording base(int threads) {
  Recording r;
  r.start_ns = kSec;
  r.end_ns = 3 * kSec;  // 2 s
  r.processes.push_back({});
  r.processes.back().pid = 100;
  for (int i = 0; i < threads; ++i) r.threads.push_back({100u + i, 100, "t", r.start_ns, r.end_ns});
  return r;
}

// Without stacks or symbols the type comes from nothing: mark condvars by hand through
// the lock table the rule receives.
void mark_condvars(Index& idx) {
  idx.locks = build_lock_table(idx);
  for (auto& l : idx.locks) l.type = "condvar";
}

std::vector<Finding> queue_rules(const Index& idx) {
  return run_rules({"handoff-stall", "per-item-synchronization"}, idx);
}

// The queue rules on `r` with every lock a condition variable.
std::vector<Finding> queue_rules_on_condvars(const Recording& r) {
  Index ctx(r);
  mark_condvars(ctx);
  return queue_rules(ctx);
}

TEST(QueueRules, RendezvousRaisesHandoffStallWithACapacity) {
  // producer 100 waits on "taken" (0x1000) 20000 times; 4 workers wait on "ready"
  // (0x2000) 20000 times in all: one pair per item at 10,000/s.
  Recording r = base(5);
  add_waits(r, 0x1000, 100, 20000, 0.5);
  for (uint32_t t = 101; t <= 104; ++t) add_waits(r, 0x2000, t, 5000, 0.6);
  auto findings = queue_rules_on_condvars(r);
  ASSERT_EQ(findings.size(), 1u);
  const Finding& f = findings[0];
  EXPECT_EQ(f.kind, "handoff-stall");
  EXPECT_EQ(f.remedy.kind, "buffer-queue");
  EXPECT_EQ(f.evidence["workers"], 4);
  EXPECT_EQ(f.evidence["suggested_capacity_min"], 4);
  EXPECT_EQ(f.evidence["suggested_capacity_max"], 8);
  EXPECT_NEAR(f.evidence["wait_pairs_per_s"].get<double>(), 10000, 1);
  EXPECT_NEAR(f.cost_thread_s, 0.5 + 2.4, 1e-6);
}

TEST(QueueRules, BufferedQueueDoesNotRaiseHandoffStall) {
  // The producer blocks 5x less often than the workers wake: a buffer absorbs it.
  Recording r = base(5);
  add_waits(r, 0x1000, 100, 4000, 0.4);
  for (uint32_t t = 101; t <= 104; ++t) add_waits(r, 0x2000, t, 5000, 0.6);
  EXPECT_TRUE(queue_rules_on_condvars(r).empty());
}

TEST(QueueRules, SlowAlternationIsNotAStall) {
  // Pairs at 1,000/s cost ~1% of a core: below kHandoffMinPairsPerS.
  Recording r = base(2);
  add_waits(r, 0x1000, 100, 2000, 0.5);
  add_waits(r, 0x2000, 101, 2000, 0.5);
  EXPECT_TRUE(queue_rules_on_condvars(r).empty());
}

TEST(QueueRules, PerItemNeedsAQueueAndARate) {
  Recording r = base(2);
  add_waits(r, 0x2000, 101, 100, 0.1);
  Index ctx(r);
  mark_condvars(ctx);
  auto& locks = ctx.locks;
  CodeLocation push, pop;
  push.function = "push_item";
  pop.function = "pop_item";
  locks[0].sites.push_back({pop, 10, 0.1, 0.1, 1.0, {}});
  LockRate rate;
  rate.pid = 100;
  rate.lock = 0x3000;
  rate.calls = 2000;
  rate.window_s = 0.04;
  rate.per_s = 50000;
  rate.tids = {100, 101};
  rate.sites = {{push, 1000, 25000, {100}}, {pop, 1000, 25000, {101}}};
  ctx.lock_rates = {rate};
  auto findings = queue_rules(ctx);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind, "per-item-synchronization");
  EXPECT_EQ(findings[0].remedy.kind, "batch");
  EXPECT_EQ(findings[0].evidence["acquisitions_per_s"], 50000);
  // evidence.lock is the lock's row, as for every lock finding (an uncontended lock: no waits).
  EXPECT_EQ(findings[0].evidence["lock"]["address"], "0x3000");
  EXPECT_EQ(findings[0].evidence["lock"]["waits"], 0);
  EXPECT_EQ(findings[0].subject.kind, SubjectKind::kLock);
  EXPECT_EQ(findings[0].subject.address, 0x3000u);
  EXPECT_TRUE(findings[0].evidence["sync_share"].is_null());  // no CPU samples recorded

  // The same rate on a lock no condition variable is used with: not a queue.
  locks[0].sites[0].loc.function = "elsewhere";
  EXPECT_TRUE(queue_rules(ctx).empty());
  // A queue lock taken rarely: batched already.
  locks[0].sites[0].loc.function = "pop_item";
  ctx.lock_rates[0].per_s = 2000;
  EXPECT_TRUE(queue_rules(ctx).empty());
}

}  // namespace
}  // namespace ccprof::profiler
