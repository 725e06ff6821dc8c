// Critical sections from recorded (synthetic) data: the kernel's hold histogram read back,
// per-lock and per-site distributions, the share of time held, the finding text, and the
// section's round trip through the recording file.
#include "profiler/lock_holds.h"

#include <gtest/gtest.h>

#include "bpf/lockrate.h"
#include "profiler/analysis.h"
#include "profiler/text.h"
#include "tests/unit/recording_util.h"
#include "tests/unit/rule_test_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

// The kernel's function puts every value in the bucket whose bounds user space reads.
// (Below 4 ns the buckets are not distinct; no hold is that short.)
TEST(LockHolds, BucketBoundsContainTheirValues) {
  for (uint64_t v : {4ull, 5ull, 6ull, 7ull, 9ull, 7ull, 100ull, 999ull, 40'000ull, 65'535ull, 3'000'000ull, 1ull << 31}) {
    uint32_t b = lockhold_bucket(v);
    EXPECT_LE(hold_bucket_lower_ns(b, LOCKHOLD_SUB_BITS), v) << v;
    EXPECT_GT(hold_bucket_lower_ns(b + 1, LOCKHOLD_SUB_BITS), v) << v;
  }
  // Quarter octaves: within 25% of the value.
  uint32_t b = lockhold_bucket(40'000);
  EXPECT_LE(hold_bucket_lower_ns(b + 1, LOCKHOLD_SUB_BITS) - hold_bucket_lower_ns(b, LOCKHOLD_SUB_BITS), 10'000u);
  EXPECT_EQ(lockhold_bucket(1ull << 40), LOCKHOLD_BUCKETS - 1);  // longer than any window: the last bucket
}

std::vector<std::pair<uint32_t, uint64_t>> hist_of(std::initializer_list<std::pair<uint64_t, uint64_t>> values) {
  std::map<uint32_t, uint64_t> m;
  for (auto [ns, n] : values) m[lockhold_bucket(ns)] += n;
  return {m.begin(), m.end()};
}

TEST(LockHolds, PercentilesComeFromTheHistogram) {
  // 98 holds of 40 µs, 2 of 3 ms: p50 ~40 µs, p99 ~3 ms.
  auto h = hist_of({{40'000, 98}, {3'000'000, 2}});
  EXPECT_NEAR(hold_percentile(h, LOCKHOLD_SUB_BITS, 0.5, 3'000'000), 40e-6, 6e-6);
  EXPECT_NEAR(hold_percentile(h, LOCKHOLD_SUB_BITS, 0.99, 3'000'000), 3e-3, 0.4e-3);
  // Capped at the largest hold measured.
  EXPECT_LE(hold_percentile(h, LOCKHOLD_SUB_BITS, 0.99, 2'900'000), 2.9e-3);
  EXPECT_EQ(hold_percentile({}, LOCKHOLD_SUB_BITS, 0.5, 0), 0);
}

// One mutex at 0x5000 timed for 1 s of windows: site A (caller 0x1010) 900 holds of
// 1 ms (0.9 s), site B (0x2020) 100 holds of 100 µs (0.01 s), plus 0.05 s clipped
// at a window's start. It was held 96% of the time.
Recording held_mutex(bool with_holds) {
  Recording r = model::two_second_recording({{100, "worker"}, {101, "worker"}, {102, "worker"}, {103, "worker"}});
  r.has_lockrate = true;
  r.lockrate.window_s = 1.0;
  r.lockrate.windows = 50;
  if (!with_holds) return r;
  r.has_lockhold = true;
  r.lockhold.window_s = 1.0;
  r.lockhold.windows = 50;
  model::LockHoldSite a{100, 0x5000, 0x1010, 900, 900 * 1'000'000ull, 1'200'000, 0, 0, hist_of({{1'000'000, 900}})};
  model::LockHoldSite b{100, 0x5000, 0x2020, 100, 100 * 100'000ull, 150'000, 0, 0, hist_of({{100'000, 100}})};
  model::LockHoldSite before{100, 0x5000, 0, 0, 0, 0, 10, 50'000'000, {}};
  r.lockhold.sites = {a, b, before};
  return r;
}

TEST(LockHolds, PerLockAndPerSite) {
  Recording r = held_mutex(true);
  Index idx(r);
  auto holds = build_lock_holds(idx);
  ASSERT_EQ(holds.size(), 1u);
  const LockHold& h = holds[0];
  EXPECT_EQ(h.lock, 0x5000u);
  EXPECT_EQ(h.dist.holds, 1000u);
  EXPECT_NEAR(h.held_s, 0.96, 1e-9);
  EXPECT_NEAR(h.share_held, 0.96, 1e-9);
  EXPECT_EQ(h.clipped, 10u);
  EXPECT_NEAR(h.dist.max_s, 1.2e-3, 1e-12);
  EXPECT_NEAR(h.dist.p50_s, 1e-3, 0.15e-3);
  // The clipped holds have no call site; the two sites, the longer-held first.
  ASSERT_EQ(h.sites.size(), 2u);
  EXPECT_NEAR(h.sites[0].share_of_time, 0.9, 1e-9);
  EXPECT_EQ(h.sites[0].dist.holds, 900u);
  EXPECT_NEAR(h.sites[1].dist.p99_s, 100e-6, 15e-6);
  const std::string text = hold_text(h);
  EXPECT_NEAR(h.sites[0].share_of_hold, 0.9 / 0.91, 1e-9);  // of the holds whose acquisition was seen
  EXPECT_NE(text.find("held 96% of the measured time; 99% of that at"), std::string::npos) << text;
  EXPECT_NE(text.find("900 holds"), std::string::npos) << text;
  auto j = hold_to_json(h);
  EXPECT_EQ(j["sites"].size(), 2u);
  EXPECT_EQ(j["holds"], 1000);
}

TEST(LockHolds, NotMeasuredIsNotZero) {
  Recording r = held_mutex(false);
  Index idx(r);
  EXPECT_TRUE(build_lock_holds(idx).empty());
}

// A contended mutex (the lock-contention rule fires) whose critical sections were
// timed: the finding says how long it was held, and where.
void add_contention(Recording& r) { model::add_lock_waits(r, 0x5000, 100, 4, 0.5, 200); }

TEST(LockHolds, LockContentionFindingCarriesHoldEvidence) {
  Recording r = held_mutex(true);
  add_contention(r);
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 1u);
  const Finding& f = a.findings[0];
  EXPECT_EQ(f.kind, "lock-contention");
  EXPECT_NE(f.explanation.find("It was held 96% of the measured time"), std::string::npos) << f.explanation;
  EXPECT_NE(f.explanation.find("p50 " + duration_text(f.evidence["hold"]["sites"][0]["p50_s"].get<double>())),
            std::string::npos)
      << f.explanation;
  ASSERT_TRUE(f.evidence.contains("hold"));
  EXPECT_NEAR(f.evidence["hold"]["share_held"].get<double>(), 0.96, 1e-9);
}

TEST(LockHolds, NoHoldEvidenceWhenNotMeasured) {
  Recording r = held_mutex(false);
  add_contention(r);
  Analysis a = analyze(r);
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_FALSE(a.findings[0].evidence.contains("hold"));
  EXPECT_EQ(a.findings[0].explanation.find("of the measured time"), std::string::npos) << a.findings[0].explanation;
}

TEST(LockHolds, SectionRoundTrips) {
  Recording r = held_mutex(true);
  r.lockhold.order.push_back({100, 101, 0x5000, 0x1010, 0x6000, 0x3030, false, 7});
  auto back = model::round_trip(r, "lock_holds");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_lockhold);
  ASSERT_EQ(back->lockhold.sites.size(), 3u);
  EXPECT_EQ(back->lockhold.sites[0].hist, r.lockhold.sites[0].hist);
  EXPECT_EQ(back->lockhold.sites[2].clipped_ns, 50'000'000u);
  ASSERT_EQ(back->lockhold.order.size(), 1u);
  EXPECT_EQ(back->lockhold.order[0].second_caller, 0x3030u);
  EXPECT_EQ(back->lockhold.order[0].count, 7u);
  Recording none = held_mutex(false);
  auto back2 = model::round_trip(none, "lock_holds_none");
  ASSERT_TRUE(back2.ok());
  EXPECT_FALSE(back2->has_lockhold);
}

TEST(LockHolds, DurationText) {
  EXPECT_EQ(duration_text(40e-6), "40 µs");
  EXPECT_EQ(duration_text(3.1e-3), "3.1 ms");
  EXPECT_EQ(duration_text(850e-9), "850 ns");
  EXPECT_EQ(duration_text(1.24), "1.24 s");
}

}  // namespace
}  // namespace ccprof::profiler
