// The predicted-gain models from recorded (synthetic) data and hand-built evidence.
#include "profiler/predicted_gain.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "profiler/analysis.h"
#include "profiler/index.h"
#include "profiler/queue_rules.h"
#include "tests/unit/recording_util.h"
#include "tests/unit/rule_test_util.h"

namespace ccprof::profiler {
namespace {

using nlohmann::json;

// `threads` workers live 2 s on `cpus` CPUs; each waits `per_thread_wait_s` for one mutex.
Recording contention(int threads, double per_thread_wait_s, int waits, uint32_t cpus) {
  Recording r = model::lock_contention_recording(threads, per_thread_wait_s, waits);
  r.online_cpus = cpus;
  return r;
}

const Finding& only_lock_finding(const Analysis& a) {
  const Finding* f = find_kind(a.findings, "lock-contention");
  EXPECT_NE(f, nullptr);
  static Finding none;
  return f ? *f : none;
}

TEST(PredictedGain, HalfTheTimeWaitingOnFourCpusPredictsAboutTwiceNotTenTimes) {
  // 4 threads wait 1 s of their 2 s: without the lock each does its work in half the time.
  Analysis a = analyze(contention(4, 1.0, 200, 4));
  const Finding& f = only_lock_finding(a);
  const PredictedGain& g = f.predicted_gain;
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_EQ(g.model, "wait-removal");
  EXPECT_LE(g.low, 2.0);
  EXPECT_GE(g.high, 2.0);
  EXPECT_GT(g.low, 1.5);   // not a range that says nothing
  EXPECT_LT(g.high, 3.0);  // and far from 10x
  EXPECT_LE(g.high, 4.0);  // never more than the 4 threads the lock serialised
  EXPECT_NEAR(g.inputs["wait_share"].get<double>(), 0.5, 1e-6);
  EXPECT_NE(f.explanation.find("Predicted gain if fixed: throughput x"), std::string::npos) << f.explanation;
  EXPECT_EQ(f.gain_rank, 1);
}

TEST(PredictedGain, FewerCpusThanWaitersLowersTheLowEnd) {
  // The same waits on 2 CPUs: another thread ran on the CPU during part of each wait.
  Analysis four = analyze(contention(4, 1.0, 200, 4));
  Analysis two = analyze(contention(4, 1.0, 200, 2));
  const PredictedGain& g4 = only_lock_finding(four).predicted_gain;
  const PredictedGain& g2 = only_lock_finding(two).predicted_gain;
  ASSERT_TRUE(g4.predicted && g2.predicted);
  EXPECT_LT(g2.low, g4.low - 0.3);
  EXPECT_DOUBLE_EQ(g2.high, g4.high);
}

TEST(PredictedGain, SmallWaitShareGivesSmallGain) {
  // 10% of the time waiting: ~1.1x, not 2x.
  Analysis a = analyze(contention(4, 0.2, 200, 4));
  const PredictedGain& g = only_lock_finding(a).predicted_gain;
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_LE(g.low, 1.11);
  EXPECT_GE(g.high, 1.11);
  EXPECT_LT(g.high, 1.2);
}

TEST(PredictedGain, TooFewWaitsIsNoPrediction) {
  Analysis a = analyze(contention(2, 0.5, 5, 2));  // 10 waits in all
  const Finding& f = only_lock_finding(a);
  EXPECT_FALSE(f.predicted_gain.predicted);
  EXPECT_NE(f.predicted_gain.reason.find("waits"), std::string::npos) << f.predicted_gain.reason;
  EXPECT_NE(f.explanation.find("No predicted gain:"), std::string::npos) << f.explanation;
  json j = predicted_gain_json(f.predicted_gain);
  EXPECT_TRUE(j["low"].is_null());
  EXPECT_TRUE(j["high"].is_null());
  EXPECT_FALSE(j["reason"].get<std::string>().empty());
}

Finding finding(std::string kind, json evidence, double cost_share = 0.3) {
  Finding f;
  f.kind = std::move(kind);
  f.evidence = std::move(evidence);
  f.cost_share = cost_share;
  f.cost_thread_s = cost_share * 10;
  return f;
}

TEST(PredictedGain, HotWordShareBoundsTheHighEndAndDecodeModeHasNoLowEnd) {
  Finding f = finding("hot-atomic", {{"word", {{"share", 0.9}, {"samples", 2000}}}, {"cache_line", {{"hitm", 0}}}});
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_DOUBLE_EQ(g.low, 1.0);       // no HITM: how much of it is coherence is not measured
  EXPECT_NEAR(g.high, 10.0, 1e-9);    // removing 90% of the time
  // With HITM (PMU mode): half the samples were HITMs, so at least 45% of the time goes.
  f.evidence["cache_line"]["hitm"] = 1000;
  g = predict_gain(f, {2, 2.0});
  EXPECT_NEAR(g.low, 1 / (1 - 0.45), 1e-9);
  // A share from a handful of samples is not a measurement.
  f.evidence["word"]["samples"] = 40;
  g = predict_gain(f, {2, 2.0});
  EXPECT_FALSE(g.predicted);
  // A share of ~1 is read to one sample of the count, not as an infinite gain, and not
  // capped at kGainMaxShare's 20x (a loop that is one hot atomic exceeds that).
  f.evidence["word"] = {{"share", 1.0}, {"samples", 500}};
  g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(g.predicted);
  EXPECT_NEAR(g.high, 500.0, 1e-9);
  f.evidence["word"] = {{"share", 0.99}, {"samples", 5000}};
  EXPECT_NEAR(predict_gain(f, {2, 2.0}).high, 100.0, 1e-6);
}

TEST(PredictedGain, CasRetryStormHighEndCountsTheWholeRetryLoop) {
  // 70% of the samples on the CAS'd word, 96% in the functions running its loop.
  json word = {{"share", 0.7}, {"samples", 2000}};
  Finding f = finding("cas-retry-storm", {{"word", word}, {"cache_line", {{"hitm", 0}}}});
  PredictedGain before = predict_gain(f, {2, 2.0});
  f.evidence["word"]["loop_share"] = 0.96;
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(before.predicted && g.predicted);
  EXPECT_NEAR(before.high, 1 / 0.3, 1e-9);
  EXPECT_NEAR(g.high, 25.0, 1e-6);
  EXPECT_DOUBLE_EQ(g.low, before.low);
  // A loop share below the word's share never lowers the high end; a hot atomic (no
  // loop to repeat) ignores it.
  f.evidence["word"]["loop_share"] = 0.5;
  EXPECT_NEAR(predict_gain(f, {2, 2.0}).high, before.high, 1e-9);
  f.kind = "hot-atomic";
  f.evidence["word"]["loop_share"] = 0.96;
  EXPECT_NEAR(predict_gain(f, {2, 2.0}).high, before.high, 1e-9);
}

// A lock's evidence: 4 waiters waiting 30% of their time on 2 CPUs, 5000 waits.
json lock_evidence(json cpu_cost = nullptr) {
  json e = {{"lock", {{"wait_share", 0.3}, {"waits", 5000}, {"waiters", json::array({1, 2, 3, 4})}}}};
  if (!cpu_cost.is_null()) e["lock_cpu_cost"] = std::move(cpu_cost);
  return e;
}

json cpu_cost(double kernel_low, double kernel_high, double user_high) {
  return {{"kernel_share_low", kernel_low}, {"kernel_share_high", kernel_high}, {"user_share_high", user_high}};
}

TEST(PredictedGain, LockWhoseWaitsCostMostOfTheCpuPredictsAHighGain) {
  // On an idle machine a contended mutex is mostly futex syscalls and context switches:
  // 80-85% of the waiters' CPU in the kernel, 8% more in the lock library's code.
  PredictedGain before = predict_gain(finding("lock-contention", lock_evidence()), {2, 2.0});
  PredictedGain g = predict_gain(finding("lock-contention", lock_evidence(cpu_cost(0.8, 0.85, 0.08))), {2, 2.0});
  ASSERT_TRUE(before.predicted && g.predicted) << g.reason;
  EXPECT_NEAR(g.low, 5.0, 1e-9);  // the kernel's 80% at least (the waits' time may not become CPU)
  EXPECT_NEAR(g.high, before.high / (1 - 0.93), 1e-9);     // the kernel's 85% and the library's 8%
  EXPECT_GT(g.high, 4.0);  // beyond the 4 waiters: the CPU cost is not serialisation
  EXPECT_DOUBLE_EQ(g.inputs["lock_cpu_share_low"].get<double>(), 0.8);
  EXPECT_NEAR(g.inputs["lock_cpu_share_high"].get<double>(), 0.93, 1e-12);
  EXPECT_TRUE(g.inputs.contains("lock_cpu_cost"));
  // A lock-for-single-word keeps its x2 for the lock + unlock on top.
  PredictedGain single = predict_gain(finding("lock-for-single-word", lock_evidence(cpu_cost(0.8, 0.85, 0.08))), {2, 2.0});
  EXPECT_NEAR(single.high, 2 * g.high, 1e-9);
}

// A lock that never slept (tbb::spin_mutex): its lock library's timed sched_yield()
// calls are its waits; the same share predicts the same gain as futex waits.
TEST(PredictedGain, ASpinLocksYieldsAreItsWaits) {
  json spin = lock_evidence();
  spin["lock"]["waits"] = 0;
  spin["lock"]["yields"] = 5000;
  PredictedGain futex = predict_gain(finding("lock-contention", lock_evidence()), {2, 2.0});
  PredictedGain g = predict_gain(finding("lock-contention", spin), {2, 2.0});
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_DOUBLE_EQ(g.low, futex.low);
  EXPECT_DOUBLE_EQ(g.high, futex.high);
  spin["lock"]["yields"] = 5;  // too few, yields or not
  EXPECT_FALSE(predict_gain(finding("lock-contention", spin), {2, 2.0}).predicted);
}

TEST(PredictedGain, LockWhoseWaitsWereAllOffCpuSleepsPredictsWhatItDidBefore) {
  // The waiters' CPU went to their own work: the lock cost no CPU beyond the waits.
  PredictedGain before = predict_gain(finding("lock-contention", lock_evidence()), {2, 2.0});
  PredictedGain g = predict_gain(finding("lock-contention", lock_evidence(cpu_cost(0, 0, 0))), {2, 2.0});
  ASSERT_TRUE(g.predicted);
  EXPECT_DOUBLE_EQ(g.low, before.low);
  EXPECT_DOUBLE_EQ(g.high, before.high);
  // No CPU-cost input (no sched collector, PMU mode, too few samples): the old model,
  // and the inputs say nothing of a CPU share.
  EXPECT_FALSE(before.inputs.contains("lock_cpu_share_low"));
  // A malformed cost (negative, not a number) is no input either.
  PredictedGain bad = predict_gain(finding("lock-contention", lock_evidence(cpu_cost(-1, 0.5, 0.1))), {2, 2.0});
  EXPECT_DOUBLE_EQ(bad.high, before.high);
  bad = predict_gain(finding("lock-contention", lock_evidence(json{{"kernel_share_low", "x"}})), {2, 2.0});
  EXPECT_DOUBLE_EQ(bad.high, before.high);
}

TEST(PredictedGain, BatchingCountsTheLockLibrarysUserTimeOnceAndTheGilNotAtAll) {
  // sync_share already holds the lock code's samples: only the kernel share is added.
  json e = lock_evidence(cpu_cost(0.5, 0.5, 0.3));
  e["sync_share"] = 0.6;
  Finding f = finding("per-item-synchronization", e);
  e.erase("lock_cpu_cost");
  PredictedGain before = predict_gain(finding("per-item-synchronization", e), {2, 2.0});
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(g.predicted && before.predicted);
  EXPECT_NEAR(g.high, before.high * 2.0, 1e-9);
  EXPECT_NEAR(g.low, std::max(before.low, 2.0), 1e-9);
  // The GIL's high end is the threads on the CPUs whatever the CPU cost.
  Finding gil = finding("gil-contention", lock_evidence(cpu_cost(0.5, 0.5, 0.3)));
  EXPECT_DOUBLE_EQ(predict_gain(gil, {2, 2.0}).high, 2.0);
}

TEST(PredictedGain, BatchingRemovesSynchronisationWorkBeyondTheWaiterCount) {
  // A producer/consumer pair: 20% of their time waiting, 80% in synchronisation in all.
  json lock = {{"wait_share", 0.2}, {"waits", 5000}, {"waiters", json::array({json::object(), json::object()})}};
  Finding f = finding("per-item-synchronization", {{"lock", lock}, {"sync_share", 0.8}});
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_NEAR(g.low, 1 / (1 - 0.2 / 1.07), 1e-9);  // the waits go at least
  EXPECT_GT(g.high, 5.0);                          // all of the 80%: not capped at the 2 waiters
  // The same waits on a lock-contention finding are capped at the 2 threads it serialises.
  f.kind = "lock-contention";
  f.evidence["lock"]["wait_share"] = 0.9;
  EXPECT_LE(predict_gain(f, {2, 2.0}).high, 2.0);
}

TEST(PredictedGain, AtomicForALockedWordAlsoHalvesTheSynchronisingWork) {
  json lock = {{"wait_share", 0.25}, {"waits", 5000}, {"waiters", json::array({1, 2, 3, 4})}};
  Finding contended = finding("lock-contention", {{"lock", lock}});
  Finding single = finding("lock-for-single-word", {{"lock", lock}});
  PredictedGain a = predict_gain(contended, {2, 2.0}), b = predict_gain(single, {2, 2.0});
  ASSERT_TRUE(a.predicted && b.predicted);
  EXPECT_DOUBLE_EQ(b.low, a.low);
  EXPECT_DOUBLE_EQ(b.high, 2 * a.high);
  EXPECT_EQ(b.model, "wait-removal-atomic");
}

TEST(PredictedGain, IoLockHandoverRaisesTheWaiterCap) {
  // 4 threads serialised behind one thread's I/O: 75% of their 2 s waiting, 1000
  // handovers of 40 us each (2% of the 2 s): the lock did serial work 98% of the time,
  // so the fix gives up to 4 / 0.98, not 4.
  json lock = {{"wait_share", 0.75}, {"total_wait_s", 6.0}, {"waits", 1000}, {"waiters", json::array({1, 2, 3, 4})}};
  Finding f = finding("lock-held-across-io", {{"lock", lock}});
  PredictedGain before = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(before.predicted) << before.reason;
  EXPECT_DOUBLE_EQ(before.high, 4.0);
  EXPECT_FALSE(before.inputs.contains("handover_share"));
  f.evidence["lock"]["handovers"] = 1000;
  f.evidence["lock"]["handover_s"] = 0.04;
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(g.predicted);
  EXPECT_NEAR(g.inputs["handover_share"].get<double>(), 0.02, 1e-12);
  EXPECT_NEAR(g.inputs["handover_mean_s"].get<double>(), 40e-6, 1e-12);
  EXPECT_NEAR(g.high, 4.0 / (1 - 0.02 * 1.07), 1e-9);
  EXPECT_DOUBLE_EQ(g.low, before.low);
  // No handover time measured: the cap stays the waiter count.
  f.evidence["lock"]["handover_s"] = 0.0;
  EXPECT_DOUBLE_EQ(predict_gain(f, {2, 2.0}).high, 4.0);
  // The CPU-bound models leave it out (their futex CPU is counted beyond the cap).
  f.evidence["lock"]["handover_s"] = 0.04;
  f.evidence["lock"]["wait_share"] = 0.95;
  f.kind = "lock-contention";
  EXPECT_LE(predict_gain(f, {8, 2.0}).high, 4.0);
  // Malformed handover evidence is no input.
  f.kind = "lock-held-across-io";
  f.evidence["lock"]["handover_s"] = "forty";
  EXPECT_DOUBLE_EQ(predict_gain(f, {2, 2.0}).high, 4.0);
}

TEST(PredictedGain, BatchingAlsoRemovesTheTimeOnLinesTheItemsMove) {
  // 20% waiting, 50% of the samples in lock code and 30% more on the queue's lines that
  // move between the producer's and the consumer's CPUs: batching removes up to 80%.
  json lock = {{"wait_share", 0.2}, {"waits", 5000}, {"waiters", json::array({json::object(), json::object()})}};
  Finding f = finding("per-item-synchronization", {{"lock", lock}, {"sync_share", 0.5}});
  PredictedGain before = predict_gain(f, {2, 2.0});
  f.evidence["shared_line_share"] = 0.3;
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(before.predicted && g.predicted) << g.reason;
  EXPECT_NEAR(before.high, 1 / (1 - 0.5 * 1.07), 1e-9);
  EXPECT_NEAR(g.high, 1 / (1 - 0.8 * 1.07), 1e-9);
  EXPECT_DOUBLE_EQ(g.low, before.low);  // the low end is the waits, as before
  EXPECT_DOUBLE_EQ(g.inputs["shared_line_share"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(g.inputs["removed_share"].get<double>(), 0.8);
  // Malformed: no input.
  f.evidence["shared_line_share"] = "most";
  EXPECT_DOUBLE_EQ(predict_gain(f, {2, 2.0}).high, before.high);
}

TEST(PredictedGain, CasRetryStormHighEndAlsoCountsLinesTheThreadsPassOutsideTheLoop) {
  json word = {{"share", 0.7}, {"samples", 2000}, {"loop_share", 0.85}};
  Finding f = finding("cas-retry-storm", {{"word", word}, {"cache_line", {{"hitm", 0}}}});
  EXPECT_NEAR(predict_gain(f, {2, 2.0}).high, 1 / 0.15, 1e-9);
  f.evidence["word"]["shared_line_share"] = 0.05;
  PredictedGain g = predict_gain(f, {2, 2.0});
  EXPECT_NEAR(g.high, 10.0, 1e-9);
  EXPECT_DOUBLE_EQ(g.inputs["shared_line_share"].get<double>(), 0.05);
}

TEST(PredictedGain, SharedLineShareCountsOnlyLinesTwoOfTheThreadsTouchAndOneWrites) {
  // 4 threads, 100 samples each; accesses: line A written by 100 and read by 101 (moves
  // between their CPUs), line B only 100's, line C only read by both, line D written by a
  // thread outside the set and read by 100.
  Recording r = model::lock_contention_recording(4, 0.5, 200);
  for (uint32_t tid = 100; tid < 104; ++tid)
    for (int i = 0; i < 100; ++i) {
      model::MemorySample m;
      m.pid = 100;
      m.tid = tid;
      m.time_ns = r.start_ns + i * 1'000'000ull;
      r.memory_samples.push_back(m);
    }
  auto index = build_index(r);
  auto access = [&](uint32_t tid, uint64_t addr, AccessKind kind) {
    MemoryAccess a;
    a.pid = 100;
    a.tid = tid;
    a.data_addr = addr;
    a.size = 8;
    a.kind = kind;
    index->memory.accesses.push_back(a);
    index->memory.lines.add(a);
  };
  for (int i = 0; i < 25; ++i) {
    access(100, 0x10000, AccessKind::kWrite);
    access(101, 0x10008, AccessKind::kRead);
    access(100, 0x20000, AccessKind::kWrite);
    access(100, 0x30000, AccessKind::kRead);
    access(101, 0x30010, AccessKind::kRead);
    access(200, 0x40000, AccessKind::kWrite);
    access(100, 0x40000, AccessKind::kRead);
  }
  const std::set<uint32_t> tids = {100, 101, 102, 103};
  EXPECT_NEAR(shared_line_sample_share(*index, 100, tids, nullptr), 50.0 / 400, 1e-12);
  EXPECT_DOUBLE_EQ(shared_line_sample_share(*index, 100, tids, [](const CodeLocation&) { return true; }), 0.0);
  EXPECT_DOUBLE_EQ(shared_line_sample_share(*index, 100, {7}, nullptr), -1.0);  // no samples of them
}

TEST(PredictedGain, ThreadChurnIsBoundedByTheTasksCpuTimeOnTheCpus) {
  // 10,000 tasks/s of 50 us CPU each on 2 CPUs: back to back they would run 4x as many.
  Finding f = finding("thread-churn", {{"creations_per_s", 10000}, {"median_on_cpu_s", 50e-6}}, 0.3);
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_NEAR(g.low, 1 / (1 - 0.3 / 1.07), 1e-9);
  EXPECT_NEAR(g.high, 4.0, 1e-9);
  // Without the task's CPU time, only the overhead's share.
  f.evidence.erase("median_on_cpu_s");
  EXPECT_NEAR(predict_gain(f, {2, 2.0}).high, 1 / (1 - 0.3 * 1.07), 1e-9);
}

TEST(PredictedGain, GilHighEndIsTheThreadsOnTheCpus) {
  json lock = {{"wait_share", 0.3}, {"waits", 2000}, {"waiters", json::array({1, 2, 3, 4})}};
  PredictedGain g = predict_gain(finding("gil-contention", {{"lock", lock}}), {2, 2.0});
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_DOUBLE_EQ(g.high, 2.0);  // 4 interpreters on 2 CPUs
  EXPECT_NEAR(g.low, 1 / (1 - 0.3 / 1.07 * 0.5), 1e-9);
  EXPECT_DOUBLE_EQ(predict_gain(finding("gil-contention", {{"lock", lock}}), {8, 2.0}).high, 4.0);
}

TEST(PredictedGain, UslRangeGoesFromThePeakToLinearScalingOnTheCpus) {
  Finding f = finding("retrograde-scaling", {{"throughput_at_largest", 1e6}, {"lambda", 2e6}, {"peak_throughput", 3e6},
                                             {"measured_peak_throughput", 3.2e6}, {"largest_threads", 16}, {"r2", 0.9}});
  PredictedGain g = predict_gain(f, {2, 1.0});
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_DOUBLE_EQ(g.low, 3.0);   // capped at the fitted peak
  EXPECT_DOUBLE_EQ(g.high, 4.0);  // lambda on 2 CPUs
  f.evidence.erase("lambda");
  EXPECT_FALSE(predict_gain(f, {2, 1.0}).predicted);
}

TEST(PredictedGain, HandoffIsBoundedByWhatTheWorkersCanAbsorb) {
  // The producer is blocked half the time, the 4 workers are idle 20% of theirs: a
  // buffer gives at most 1/(1-0.2) = 1.25x however much the producer waited.
  Finding f = finding("handoff-stall", {{"producer_threads", 1}, {"workers", 4}, {"producer_wait_s", 1.0},
                                        {"consumer_wait_s", 1.6}});
  PredictedGain g = predict_gain(f, {8, 2.0});
  ASSERT_TRUE(g.predicted) << g.reason;
  EXPECT_NEAR(g.high, 1.25, 1e-9);
  EXPECT_LE(g.low, g.high);
  EXPECT_FALSE(predict_gain(f, {8, 0.0}).predicted);  // no duration, no shares
}

TEST(PredictedGain, PoolFollowsLittlesLawUpToTheCpuTarget) {
  Finding f = finding("pool-saturated-io", {{"workers", 2}, {"suggested_pool_size", 10}, {"cpu_utilization", 0.3},
                                            {"target_utilization", 0.9}, {"busy_share", 0.99}});
  PredictedGain g = predict_gain(f, {2, 2.0});
  ASSERT_TRUE(g.predicted);
  EXPECT_DOUBLE_EQ(g.high, 3.0);  // the CPUs reach 90% at 3x, before the 5x of the pool's size
  EXPECT_DOUBLE_EQ(g.low, 1.0);
}

TEST(PredictedGain, MalformedEvidenceIsNoPredictionNotACrash) {
  json lock = {{"wait_share", std::nan("")}, {"waits", 5000}, {"waiters", "four"}};
  EXPECT_FALSE(predict_gain(finding("lock-contention", {{"lock", lock}}), {2, 2.0}).predicted);
  EXPECT_FALSE(predict_gain(finding("lock-contention", {{"lock", "g_mutex"}}), {2, 2.0}).predicted);
  EXPECT_FALSE(predict_gain(finding("false-sharing", {{"line_sample_share", "most"}}), {2, 2.0}).predicted);
  EXPECT_FALSE(predict_gain(finding("retrograde-scaling", {{"peak_throughput", nullptr}}), {2, 2.0}).predicted);
}

TEST(PredictedGain, KindsWithoutAThroughputModelSayWhy) {
  for (const char* kind : {"unbounded-queue", "lock-order-inversion", "no-such-kind"}) {
    PredictedGain g = predict_gain(finding(kind, json::object()), {2, 2.0});
    EXPECT_FALSE(g.predicted) << kind;
    EXPECT_FALSE(g.reason.empty()) << kind;
  }
}

TEST(PredictedGain, GainRankPutsTheLargerGainFirstAndUnpredictedLast) {
  std::vector<Finding> fs;
  fs.push_back(finding("unbounded-queue", json::object(), 0.5));  // costliest, no prediction
  fs.push_back(finding("hot-atomic", {{"word", {{"share", 0.5}, {"samples", 1000}}}}, 0.4));   // x1-2
  fs.push_back(finding("hot-atomic", {{"word", {{"share", 0.8}, {"samples", 1000}}}}, 0.1));   // x1-5
  predict_gains(fs, {2, 2.0});
  EXPECT_EQ(fs[2].gain_rank, 1);
  EXPECT_EQ(fs[1].gain_rank, 2);
  EXPECT_EQ(fs[0].gain_rank, 3);
  EXPECT_EQ(fs[0].kind, "unbounded-queue");  // the cost order itself is unchanged
}

}  // namespace
}  // namespace ccprof::profiler
