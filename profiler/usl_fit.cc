#include "profiler/usl_fit.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "absl/strings/str_format.h"

namespace ccprof::profiler {
namespace {

// Parameters in the solver's order; λ is fitted on throughputs divided by their
// maximum so that all three are of order 1 (λ is ~1e7 ops/s where α, β are ~1e-2).
struct Params {
  double lambda = 1, alpha = 0, beta = 0;
};

constexpr double kAlphaMax = 1;  // α > 1 would make 2 workers slower than 1 without β
constexpr double kBetaMax = 1;   // the usl R package bounds both to [0, 1] too
constexpr int kMaxIterations = 200;

double capacity_of(double n, double alpha, double beta) {
  return n / (1 + alpha * (n - 1) + beta * n * (n - 1));
}

double sse(const std::vector<UslPoint>& pts, const Params& p) {
  double s = 0;
  for (const auto& q : pts) {
    double r = q.throughput - p.lambda * capacity_of(q.n, p.alpha, p.beta);
    s += r * r;
  }
  return s;
}

// For fixed α and β the best λ is linear least squares: Σ X·C / Σ C².
double best_lambda(const std::vector<UslPoint>& pts, double alpha, double beta) {
  double xc = 0, cc = 0;
  for (const auto& q : pts) {
    double c = capacity_of(q.n, alpha, beta);
    xc += q.throughput * c;
    cc += c * c;
  }
  return cc > 0 ? std::max(xc / cc, 0.0) : 0;
}

// Solves the 3x3 system a·x = b by Gaussian elimination with partial pivoting.
bool solve3(std::array<std::array<double, 3>, 3> a, std::array<double, 3> b, std::array<double, 3>* x) {
  for (int c = 0; c < 3; ++c) {
    int piv = c;
    for (int r = c + 1; r < 3; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    if (std::fabs(a[piv][c]) < 1e-300) return false;
    std::swap(a[piv], a[c]);
    std::swap(b[piv], b[c]);
    for (int r = c + 1; r < 3; ++r) {
      double f = a[r][c] / a[c][c];
      for (int k = c; k < 3; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  for (int c = 2; c >= 0; --c) {
    double s = b[c];
    for (int k = c + 1; k < 3; ++k) s -= a[c][k] * (*x)[k];
    (*x)[c] = s / a[c][c];
  }
  return true;
}

Params clamp(Params p) {
  p.lambda = std::max(p.lambda, 0.0);
  p.alpha = std::clamp(p.alpha, 0.0, kAlphaMax);
  p.beta = std::clamp(p.beta, 0.0, kBetaMax);
  return p;
}

// Levenberg–Marquardt (Marquardt's diagonal scaling) on λ, α, β with the bounds
// enforced by projection: a parameter on its bound whose step points outward is held
// there for that step (so the other two still move).
Params levenberg_marquardt(const std::vector<UslPoint>& pts, Params p) {
  double cost = sse(pts, p);
  double mu = 1e-3;
  for (int it = 0; it < kMaxIterations && cost > 0; ++it) {
    std::array<std::array<double, 3>, 3> jtj{};
    std::array<double, 3> jtr{};
    for (const auto& q : pts) {
      double d = 1 + p.alpha * (q.n - 1) + p.beta * q.n * (q.n - 1);
      double f = p.lambda * q.n / d;
      std::array<double, 3> j = {q.n / d, -p.lambda * q.n * (q.n - 1) / (d * d),
                                 -p.lambda * q.n * q.n * (q.n - 1) / (d * d)};
      double r = q.throughput - f;
      for (int a = 0; a < 3; ++a) {
        jtr[a] += j[a] * r;
        for (int b = 0; b < 3; ++b) jtj[a][b] += j[a] * j[b];
      }
    }
    bool improved = false;
    while (mu < 1e12) {
      std::array<std::array<double, 3>, 3> m = jtj;
      for (int a = 0; a < 3; ++a) m[a][a] += mu * (jtj[a][a] + 1e-12);
      std::array<double, 3> step{};
      if (!solve3(m, jtr, &step)) {
        mu *= 4;
        continue;
      }
      // Hold parameters that sit on a bound and would leave it; re-solve without them.
      const double value[3] = {p.lambda, p.alpha, p.beta};
      const double upper[3] = {INFINITY, kAlphaMax, kBetaMax};
      bool any_held = false;
      std::array<double, 3> rhs = jtr;
      for (int a = 0; a < 3; ++a) {
        if ((value[a] <= 0 && step[a] < 0) || (value[a] >= upper[a] && step[a] > 0)) {
          for (int b = 0; b < 3; ++b) m[a][b] = m[b][a] = 0;
          m[a][a] = 1;
          rhs[a] = 0;
          any_held = true;
        }
      }
      if (any_held && !solve3(m, rhs, &step)) {
        mu *= 4;
        continue;
      }
      Params next = clamp({p.lambda + step[0], p.alpha + step[1], p.beta + step[2]});
      double next_cost = sse(pts, next);
      if (next_cost < cost) {
        bool converged = cost - next_cost <= 1e-14 * cost;
        p = next;
        cost = next_cost;
        mu = std::max(mu / 3, 1e-12);
        improved = !converged;
        break;
      }
      mu *= 4;
    }
    if (!improved) break;
  }
  return p;
}

// Starting points: the simplest model (α = β = 0) first, so that ties keep it, then
// the best cells of a log-spaced grid over α and β (λ solved exactly in each cell).
std::vector<Params> starting_points(const std::vector<UslPoint>& pts) {
  std::vector<double> alphas = {0}, betas = {0};
  for (int i = 0; i <= 32; ++i) alphas.push_back(std::pow(10.0, -4 + 4.0 * i / 32));
  for (int i = 0; i <= 48; ++i) betas.push_back(std::pow(10.0, -6 + 6.0 * i / 48));
  std::vector<std::pair<double, Params>> cells;
  for (double a : alphas)
    for (double b : betas) {
      Params p{best_lambda(pts, a, b), a, b};
      cells.push_back({sse(pts, p), p});
    }
  std::stable_sort(cells.begin(), cells.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Params> starts = {{best_lambda(pts, 0, 0), 0, 0}};
  for (size_t i = 0; i < cells.size() && starts.size() < 5; ++i) starts.push_back(cells[i].second);
  starts.push_back({best_lambda(pts, 0.1, 0.01), 0.1, 0.01});  // a typical contended system
  return starts;
}

void set_peak(UslFit* f) {
  if (f->beta <= 0) {
    f->peak_n = std::numeric_limits<double>::infinity();
    f->peak_n_whole = 0;
    f->peak_throughput = f->alpha > 0 ? f->lambda / f->alpha : std::numeric_limits<double>::infinity();
    return;
  }
  f->peak_n = std::max(1.0, std::sqrt(std::max(0.0, 1 - f->alpha) / f->beta));
  int lo = std::max(1, static_cast<int>(std::floor(f->peak_n)));
  int hi = std::max(1, static_cast<int>(std::ceil(f->peak_n)));
  f->peak_n_whole = f->predict(hi) > f->predict(lo) ? hi : lo;
  f->peak_throughput = f->predict(f->peak_n_whole);
}

}  // namespace

double UslFit::capacity(double n) const { return capacity_of(n, alpha, beta); }

absl::StatusOr<UslFit> fit_usl(const std::vector<UslPoint>& points) {
  if (points.empty()) return absl::InvalidArgumentError("no measurements to fit");
  double top = 0;
  std::set<double> distinct;
  for (const auto& q : points) {
    if (!std::isfinite(q.n) || q.n < 1)
      return absl::InvalidArgumentError(absl::StrFormat("thread count %g is not >= 1", q.n));
    if (!std::isfinite(q.throughput) || q.throughput < 0)
      return absl::InvalidArgumentError(absl::StrFormat("throughput %g at N=%g is not a number >= 0", q.throughput, q.n));
    top = std::max(top, q.throughput);
    distinct.insert(q.n);
  }
  if (top <= 0) return absl::InvalidArgumentError("every measured throughput is zero: nothing to fit");

  std::vector<UslPoint> pts = points;
  for (auto& q : pts) q.throughput /= top;

  UslFit fit;
  Params best;
  if (distinct.size() < 3) {
    fit.note = absl::StrFormat("%d distinct thread count%s: at least 3 are needed to fit alpha and beta",
                               distinct.size(), distinct.size() == 1 ? "" : "s");
    best = {best_lambda(pts, 0, 0), 0, 0};
  } else {
    fit.fitted = true;
    double best_cost = INFINITY;
    for (const auto& start : starting_points(pts)) {
      Params p = levenberg_marquardt(pts, start);
      p.lambda = best_lambda(pts, p.alpha, p.beta);  // exact for the final α, β
      double c = sse(pts, p);
      if (c < best_cost) {
        best_cost = c;
        best = p;
      }
    }
  }
  fit.alpha = best.alpha;
  fit.beta = best.beta;
  fit.lambda = best.lambda * top;

  double mean = 0;
  for (const auto& q : points) mean += q.throughput;
  mean /= points.size();
  double ss_res = 0, ss_tot = 0;
  for (const auto& q : points) {
    double r = q.throughput - fit.predict(q.n);
    ss_res += r * r;
    ss_tot += (q.throughput - mean) * (q.throughput - mean);
  }
  fit.rmse = std::sqrt(ss_res / points.size());
  if (ss_tot > 0) fit.r2 = 1 - ss_res / ss_tot;
  else fit.r2 = ss_res <= 1e-18 * top * top * points.size() ? 1 : 0;
  set_peak(&fit);
  return fit;
}

}  // namespace ccprof::profiler
