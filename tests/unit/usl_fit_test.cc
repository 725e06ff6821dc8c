// The USL fit against synthetic throughputs with known λ, α, β (and noise from a fixed seed).
#include "profiler/usl_fit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace ccprof::profiler {
namespace {

const std::vector<double> kThreads = {1, 2, 4, 8, 16, 32};

std::vector<UslPoint> synthetic(double lambda, double alpha, double beta, double noise, int runs = 3,
                                const std::vector<double>& threads = kThreads, unsigned seed = 42) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> jitter(0, noise);
  std::vector<UslPoint> pts;
  for (double n : threads)
    for (int r = 0; r < runs; ++r) {
      double x = lambda * n / (1 + alpha * (n - 1) + beta * n * (n - 1));
      pts.push_back({n, x * (1 + jitter(rng))});
    }
  return pts;
}

TEST(UslFit, RecoversExactParameters) {
  auto fit = fit_usl(synthetic(1000, 0.05, 0.002, 0, 1));
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_TRUE(fit->fitted);
  EXPECT_NEAR(fit->lambda, 1000, 1e-3);
  EXPECT_NEAR(fit->alpha, 0.05, 1e-6);
  EXPECT_NEAR(fit->beta, 0.002, 1e-7);
  EXPECT_NEAR(fit->r2, 1, 1e-9);
  EXPECT_NEAR(fit->peak_n, std::sqrt(0.95 / 0.002), 1e-3);  // 21.8
  EXPECT_EQ(fit->peak_n_whole, 22);
  EXPECT_GT(fit->predict(22), fit->predict(21));
  EXPECT_GT(fit->predict(22), fit->predict(23));
}

TEST(UslFit, RecoversParametersFromNoisyData) {
  // 2% noise, 3 runs per N: α and β within a few thousandths, the peak within ±1.5.
  auto fit = fit_usl(synthetic(5e6, 0.1, 0.01, 0.02));
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->lambda / 5e6, 1, 0.05);
  EXPECT_NEAR(fit->alpha, 0.1, 0.03);
  EXPECT_NEAR(fit->beta, 0.01, 0.002);
  EXPECT_GT(fit->r2, 0.95);
  EXPECT_NEAR(fit->peak_n, std::sqrt(0.9 / 0.01), 1.5);  // 9.5
  EXPECT_TRUE(fit->has_peak());
}

TEST(UslFit, StrongRetrogradeLikeScenario6) {
  // The s06 bad shape: peak around 2-3, throughput at 16 well below half the peak.
  auto fit = fit_usl(synthetic(8e6, 0.3, 0.08, 0.03, 3, {1, 2, 4, 8, 16}));
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->alpha, 0.3, 0.1);
  EXPECT_NEAR(fit->beta, 0.08, 0.02);
  EXPECT_GE(fit->peak_n_whole, 2);
  EXPECT_LE(fit->peak_n_whole, 3);
  EXPECT_LT(fit->predict(16), 0.5 * fit->peak_throughput);
}

TEST(UslFit, ManyNoiseSeedsStayClose) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    auto fit = fit_usl(synthetic(1e6, 0.05, 0.005, 0.02, 3, kThreads, seed));
    ASSERT_TRUE(fit.ok()) << fit.status();
    EXPECT_NEAR(fit->peak_n, std::sqrt(0.95 / 0.005), 3) << "seed " << seed;  // 13.8
  }
}

TEST(UslFit, LinearScalingHasNoPeak) {
  auto fit = fit_usl(synthetic(100, 0, 0, 0, 1));
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_EQ(fit->alpha, 0);
  EXPECT_EQ(fit->beta, 0);
  EXPECT_NEAR(fit->lambda, 100, 1e-9);
  EXPECT_FALSE(fit->has_peak());
  EXPECT_TRUE(std::isinf(fit->peak_n));
}

TEST(UslFit, NoisyLinearScalingPeaksFarOutsideTheRange) {
  auto fit = fit_usl(synthetic(100, 0, 0, 0.01));
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_LT(fit->beta, 1e-4);
  EXPECT_GT(fit->peak_n, 100);  // if any peak, far beyond the 32 threads measured
}

TEST(UslFit, AmdahlPlateauHasNoPeak) {
  auto fit = fit_usl(synthetic(100, 0.2, 0, 0, 1));
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->alpha, 0.2, 1e-6);
  EXPECT_NEAR(fit->beta, 0, 1e-9);
  if (fit->beta == 0) {
    EXPECT_FALSE(fit->has_peak());
    EXPECT_NEAR(fit->peak_throughput, 500, 1e-3);  // the asymptote λ/α
  } else {
    EXPECT_GT(fit->peak_n, 1000);
  }
}

TEST(UslFit, FlatThroughputFitsFullContention) {
  // Every N does the same work per second (the fixed s06 on a 1-core share): α = 1.
  std::vector<UslPoint> pts;
  for (double n : {1, 2, 4, 8, 16}) pts.push_back({n, 42});
  auto fit = fit_usl(pts);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->alpha, 1, 1e-6);
  EXPECT_NEAR(fit->beta, 0, 1e-9);
  EXPECT_NEAR(fit->predict(16), 42, 1e-6);
  EXPECT_EQ(fit->r2, 1);
}

TEST(UslFit, OnePointIsNotEnoughToFit) {
  auto fit = fit_usl({{4, 400}});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_FALSE(fit->fitted);
  EXPECT_NE(fit->note.find("at least 3"), std::string::npos);
  EXPECT_EQ(fit->alpha, 0);
  EXPECT_EQ(fit->beta, 0);
  EXPECT_NEAR(fit->lambda, 100, 1e-9);
  EXPECT_FALSE(fit->has_peak());
}

TEST(UslFit, TwoThreadCountsAreNotEnoughEither) {
  auto fit = fit_usl({{1, 10}, {1, 11}, {2, 15}, {2, 16}});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_FALSE(fit->fitted);
  EXPECT_FALSE(fit->has_peak());
}

TEST(UslFit, RejectsBadInput) {
  EXPECT_FALSE(fit_usl({}).ok());
  EXPECT_FALSE(fit_usl({{1, 0}, {2, 0}, {4, 0}}).ok());  // all zeros: nothing to fit
  EXPECT_FALSE(fit_usl({{0, 1}, {2, 2}, {4, 3}}).ok());
  EXPECT_FALSE(fit_usl({{1, -1}, {2, 2}, {4, 3}}).ok());
  EXPECT_FALSE(fit_usl({{1, NAN}, {2, 2}, {4, 3}}).ok());
  EXPECT_FALSE(fit_usl({{1, INFINITY}, {2, 2}, {4, 3}}).ok());
}

TEST(UslFit, SomeZeroThroughputsStillFit) {
  // A collapse to zero at high N is an extreme retrograde region, not an error.
  auto fit = fit_usl({{1, 100}, {2, 150}, {4, 120}, {8, 30}, {16, 0}});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_TRUE(fit->has_peak());
  EXPECT_LE(fit->peak_n_whole, 4);
}

}  // namespace
}  // namespace ccprof::profiler
