#pragma once
// The Universal Scalability Law (seed, scenario 6): with N workers a system does
//   X(N) = λ·C(N),   C(N) = N / (1 + α(N−1) + βN(N−1))
// where λ is the single-worker throughput, α the contention (serial) fraction and β
// the coherency (crosstalk) cost. fit_usl() finds λ, α, β from measured X(N) by
// nonlinear least squares and derives the peak and the retrograde region.
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ccprof::profiler {

// One measured thread count and the throughput measured at it (any unit per second).
struct UslPoint {
  double n = 0;
  double throughput = 0;
};

struct UslFit {
  // False when the points cannot determine α and β (fewer than 3 distinct thread
  // counts); then α = β = 0, λ fits the points as linear scaling and `note` says why.
  bool fitted = false;
  std::string note;
  double alpha = 0;   // contention, in [0, 1]
  double beta = 0;    // coherency, in [0, 1]
  double lambda = 0;  // throughput of one worker
  double r2 = 0;      // coefficient of determination of the fit on the points, <= 1
  double rmse = 0;    // root-mean-square residual, in throughput units
  // N* = sqrt((1 − α)/β), the N of the highest throughput (>= 1); +infinity when β = 0
  // (throughput never declines: linear scaling, or Amdahl's plateau at λ/α).
  double peak_n = std::numeric_limits<double>::infinity();
  // The whole thread count with the highest fitted throughput, and that throughput.
  // Beyond peak_n_whole, adding threads lowers throughput (the retrograde region).
  // 0 / the asymptote λ/α (or +infinity) when there is no peak.
  int peak_n_whole = 0;
  double peak_throughput = std::numeric_limits<double>::infinity();

  bool has_peak() const { return peak_n_whole > 0; }
  double capacity(double n) const;  // C(N)
  double predict(double n) const { return lambda * capacity(n); }  // X(N)
};

// Fits λ, α, β to `points` (N >= 1, throughput >= 0 and finite). Several points per N
// are fine (each is one residual). Errors: no points, a bad N or throughput, or every
// throughput zero (nothing to fit).
absl::StatusOr<UslFit> fit_usl(const std::vector<UslPoint>& points);

}  // namespace ccprof::profiler
