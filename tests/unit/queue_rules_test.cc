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

TEST(QueueRules, HandoffBufferNeedsWaitsPerItemUnderTheFloorByMoreThanTheirError) {
  // 0.625 waits per item (under the 0.8 floor): from 25 kept waits it could be 0.875
  // (two standard errors of 20%), from 2,500 at most 0.65.
  EXPECT_FALSE(handoff_buffer_shown(25, 1, 40));
  EXPECT_TRUE(handoff_buffer_shown(2500, 1, 4000));
  EXPECT_FALSE(handoff_buffer_shown(2375, 1, 2500));  // a rendezvous (0.95)
  // Kept 1 in 4: 625 kept waits are 2,500 of 4,000 items, the error that of 625.
  EXPECT_TRUE(handoff_buffer_shown(625, 4, 4000));
  EXPECT_FALSE(handoff_buffer_shown(10, 4, 64));
  // None blocked on: shown by many items (at most 3 waits, rule of three), not by 3.
  EXPECT_TRUE(handoff_buffer_shown(0, 1, 400));
  EXPECT_FALSE(handoff_buffer_shown(0, 1, 3));
  EXPECT_FALSE(handoff_buffer_shown(0, 1, 0));  // no items counted: nothing shown
}

// The rendezvous pair of RendezvousRaisesHandoffStallWithACapacity, with lock-rate windows
// in which the producer (tid 100) made `calls` lock calls and `kept` of its waits began.
std::vector<Finding> handoff_with_windows(uint64_t kept, uint64_t calls) {
  Recording r = base(5);
  add_waits(r, 0x1000, 100, 20000, 0.5);
  for (uint32_t t = 101; t <= 104; ++t) add_waits(r, 0x2000, t, 5000, 0.6);
  r.has_lockrate = true;
  r.lockrate.intervals_ns = {{r.start_ns, r.start_ns + kept}};  // add_waits starts wait i at start + i
  Index ctx(r);
  mark_condvars(ctx);
  LockRate rate;
  rate.pid = 100;
  rate.lock = 0x3000;
  rate.calls = calls;
  rate.window_s = 0.02;
  rate.per_s = calls / rate.window_s;
  rate.tids = {100};
  CodeLocation push;
  push.function = "push_item";
  rate.sites = {{push, calls, rate.per_s, {100}}};
  ctx.lock_rates = {rate};
  return run_rules({"handoff-stall"}, ctx);
}

TEST(QueueRules, HandoffStallWaitsPerItemDecideOnlyBeyondTheirSamplingError) {
  // Few waits in the windows: 0.625 per item is within its error of the floor, the pair's
  // rates decide (a rendezvous).
  auto few = handoff_with_windows(25, 40);
  ASSERT_EQ(few.size(), 1u);
  EXPECT_NEAR(few[0].evidence["producer_waits_per_item"].get<double>(), 0.625, 1e-9);
  // The same share from 100x the waits: the producer did run ahead of its consumers.
  EXPECT_TRUE(handoff_with_windows(2500, 4000).empty());
  // Blocked on every item: raised with either count.
  EXPECT_EQ(handoff_with_windows(2500, 2500).size(), 1u);
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
