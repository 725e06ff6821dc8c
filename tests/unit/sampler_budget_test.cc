// The memory sampler's CPU budget (agent/sampler_budget.h): the cost of a second of
// sampling, the decision to halve the rate, and the thinning that makes a window's
// samples stand for one rate.
#include "agent/sampler_budget.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace ccprof::agent {
namespace {

SamplerCost second_of(uint64_t fires, double agent_us_per_sample, double interrupt_ns, uint32_t cpus = 2) {
  SamplerCost c;
  c.interval_s = 1;
  c.cpus = cpus;
  c.fires = fires;
  c.samples = fires;
  c.bpf_s = fires * 1e-6;  // ~1 us per sample, as measured on the CI VM
  c.agent_s = fires * agent_us_per_sample * 1e-6;
  c.interrupt_ns = interrupt_ns;
  return c;
}

TEST(SamplerBudget, ShareIsEveryPartOverAllCpus) {
  // 998 samples/s on 2 CPUs (499 Hz each), 2 us of agent, 1 us of BPF, 10 us interrupt:
  // 12.97 ms per second over 2 CPU-seconds.
  const SamplerCost c = second_of(998, 2, kInterruptNsVm);
  EXPECT_NEAR(c.interrupt_s(), 998 * 10e-6, 1e-9);
  EXPECT_NEAR(c.share(), 998 * 13e-6 / 2, 1e-9);
  EXPECT_NEAR(c.drain_share(), 998 * 2e-6, 1e-9);
}

TEST(SamplerBudget, TheDefaultRateOnTheCiVmIsWithinTheDefaultBudget) {
  // What the matrices run: cheap samples (cpu-bound, ~2 us) and -O0 pointer-heavy ones
  // (~9.3 us of agent work, bench/drain_cost.py) both stay at 499 Hz.
  EXPECT_EQ(over_budget(second_of(998, 2, kInterruptNsVm), kDefaultSamplerBudget), "");
  EXPECT_EQ(over_budget(second_of(998, 9.3, kInterruptNsVm), kDefaultSamplerBudget), "");
}

TEST(SamplerBudget, DearSamplesAreOverBudget) {
  // 80 us per sample (the agent's trimming before its per-instruction cache): ~4.6%.
  EXPECT_EQ(over_budget(second_of(998, 80, kInterruptNsVm), kDefaultSamplerBudget), "over budget");
  // The same at half the rate is still over; at a quarter it is not.
  EXPECT_EQ(over_budget(second_of(499, 80, kInterruptNsVm), kDefaultSamplerBudget), "over budget");
  EXPECT_EQ(over_budget(second_of(249, 80, kInterruptNsVm), kDefaultSamplerBudget), "");
  // No budget: only the drain thread's limit.
  EXPECT_EQ(over_budget(second_of(998, 80, kInterruptNsVm), 0), "");
}

TEST(SamplerBudget, ABusyDrainThreadLowersTheRateWhateverTheBudget) {
  // 64 CPUs at 499 Hz: 32k samples/s at 20 us each is 64% of the one drain thread,
  // though only 1% of the 64 CPUs.
  const SamplerCost c = second_of(64 * 499, 20, kInterruptNsMetal, 64);
  EXPECT_LT(c.share(), 0.015);
  EXPECT_EQ(over_budget(c, kDefaultSamplerBudget), "drain thread busy");
  EXPECT_EQ(over_budget(c, 0), "drain thread busy");
}

TEST(SamplerBudget, TheTicksInterruptIsNotTheSamplers) {
  SamplerCost c = second_of(998, 2, 0);
  EXPECT_EQ(c.interrupt_s(), 0);
  EXPECT_NEAR(c.share(), 998 * 3e-6 / 2, 1e-9);
}

TEST(SamplerBudget, MaxLevelKeepsTheRateAtOrAboveTheFloor) {
  EXPECT_EQ(max_rate_level(499), 4u);  // 499 -> 249 -> 124 -> 62 -> 31
  EXPECT_EQ(max_rate_level(97), 1u);   // 97 -> 48 (24 is under the floor)
  EXPECT_EQ(max_rate_level(250), 3u);  // the tick at HZ 250 -> 31
  EXPECT_EQ(max_rate_level(kMinSampleHz), 0u);
  EXPECT_EQ(max_rate_level(10), 0u);
}

TEST(SamplerBudget, ThinningKeepsEverySampleAtTheTargetLevel) {
  const std::vector<uint8_t> levels = {1, 1, 1, 1};
  const std::vector<uint32_t> cpus = {0, 1, 0, 1};
  EXPECT_EQ(thin_to_level(levels, cpus, 1), std::vector<bool>(4, true));
}

TEST(SamplerBudget, ThinningKeepsOneInTwoToTheLevelsDifferencePerCpuInOrder) {
  // Level 0 on two CPUs, then level 2: thinned to level 2, each CPU keeps its 1st, 5th..
  // level-0 sample, and every level-2 sample.
  std::vector<uint8_t> levels;
  std::vector<uint32_t> cpus;
  for (int i = 0; i < 16; ++i) {
    levels.push_back(0);
    cpus.push_back(i % 2);
  }
  for (int i = 0; i < 6; ++i) {
    levels.push_back(2);
    cpus.push_back(i % 2);
  }
  const std::vector<bool> keep = thin_to_level(levels, cpus, 2);
  std::map<uint32_t, int> kept0;
  for (size_t i = 0; i < 16; ++i) {
    const int nth = static_cast<int>(i / 2);  // the sample's place on its CPU
    EXPECT_EQ(keep[i], nth % 4 == 0) << i;
    kept0[cpus[i]] += keep[i];
  }
  EXPECT_EQ(kept0[0], 2);
  EXPECT_EQ(kept0[1], 2);
  for (size_t i = 16; i < keep.size(); ++i) EXPECT_TRUE(keep[i]) << i;
}

TEST(SamplerBudget, ThinnedCountsStandForTheLowerRate) {
  // Two functions sampled in a 3:1 ratio at 499 Hz for 1 s, then at 124 Hz for 3 s:
  // after thinning to level 2, their counts are in the same ratio, and the totals are
  // what 124 Hz would have taken over the 4 s (within one sample per CPU and function).
  std::mt19937 rng(7);
  std::vector<uint8_t> levels;
  std::vector<uint32_t> cpus, fn;
  auto take = [&](int n, uint8_t level) {
    for (int i = 0; i < n; ++i) {
      levels.push_back(level);
      cpus.push_back(i % 2);
      fn.push_back(rng() % 4 == 0);  // function 1 a quarter of the time
    }
  };
  take(2 * 499, 0);
  take(2 * 3 * 124, 2);
  const std::vector<bool> keep = thin_to_level(levels, cpus, 2);
  int kept = 0, kept_fn1 = 0;
  for (size_t i = 0; i < keep.size(); ++i) {
    kept += keep[i];
    kept_fn1 += keep[i] && fn[i];
  }
  EXPECT_NEAR(kept, 2 * 499 / 4.0 + 2 * 3 * 124, 2);  // 499/4 = 124.75 Hz over the first second
  EXPECT_NEAR(static_cast<double>(kept_fn1) / kept, 0.25, 0.05);
}

}  // namespace
}  // namespace ccprof::agent
