#include "report/scaling_svg.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "profiler/text.h"
#include "absl/strings/str_join.h"
#include "model/atomic_file.h"

namespace ccprof::report {
namespace {

using nlohmann::json;

constexpr double kWidth = 720, kHeight = 440;
constexpr double kLeft = 80, kRight = 30, kTop = 56, kBottom = 56;  // plot margins
constexpr int kCurveSamples = 200;

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters even as references.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') out += '?';
        else out += c;
    }
  }
  return out;
}


// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to `top`.
double tick_step(double top, int ticks) {
  double raw = top / ticks;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

double num(const json& j, const char* key, double fallback = 0) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

}  // namespace

std::string render_scaling_svg(const json& t) {
  const json points = t.value("points", json::array());
  const json fit = t.value("fit", json::object());
  const json verdict = t.value("retrograde", json::object());
  const double alpha = num(fit, "alpha"), beta = num(fit, "beta"), lambda = num(fit, "lambda");
  auto model = [&](double n) { return lambda * n / (1 + alpha * (n - 1) + beta * n * (n - 1)); };

  double max_n = 1, max_x = 0;
  for (const auto& p : points) {
    max_n = std::max(max_n, num(p, "threads"));
    max_x = std::max(max_x, num(p, "throughput"));
    for (const auto& r : p.value("runs", json::array()))
      if (r.is_number()) max_x = std::max(max_x, r.get<double>());
  }
  const bool have_curve = fit.value("fitted", false) && lambda > 0;
  if (have_curve)
    for (int i = 0; i <= kCurveSamples; ++i) max_x = std::max(max_x, model(1 + (max_n - 1) * i / kCurveSamples));
  if (max_x <= 0) max_x = 1;
  const double y_step = tick_step(max_x * 1.05, 5);
  const double y_top = std::ceil(max_x * 1.05 / y_step) * y_step;
  const double x_right = max_n * 1.04;

  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto sx = [&](double n) { return kLeft + n / x_right * pw; };
  auto sy = [&](double x) { return kTop + ph - x / y_top * ph; };

  std::string s;
  s += absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight, kWidth, kHeight);
  std::vector<std::string> cmd = t.value("command", std::vector<std::string>{});
  s += "<title>" + escape("ccprof scale: " + absl::StrJoin(cmd, " ")) + "</title>\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";

  std::string heading = "Throughput by thread count";
  if (fit.value("fitted", false)) {
    heading += absl::StrFormat("  —  USL fit: alpha=%.3g, beta=%.3g, R²=%.2f", alpha, beta, num(fit, "r2"));
  } else if (!fit.value("note", std::string()).empty()) {
    heading += "  —  no fit: " + fit.value("note", std::string());
  }
  s += absl::StrFormat("<text x=\"%.0f\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", kLeft,
                       escape(heading));
  s += absl::StrFormat("<text x=\"%.0f\" y=\"42\" fill=\"#555\">%s</text>\n", kLeft,
                       escape(verdict.value("reason", std::string())));

  // Retrograde region: from the fitted peak to the largest N measured.
  const bool retro = verdict.value("detected", false);
  const double peak_n = num(fit, "peak_n", -1);
  if (retro && peak_n > 0 && peak_n < max_n)
    s += absl::StrFormat(
        "<rect class=\"retrograde\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fde2e2\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#b42318\" text-anchor=\"end\">retrograde region</text>\n",
        sx(peak_n), kTop, sx(max_n) - sx(peak_n), ph, sx(max_n) - 4, kTop + 14);

  // Axes, grid and ticks.
  for (double y = 0; y <= y_top + y_step / 2; y += y_step)
    s += absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#333\">%s</text>\n",
        kLeft, sy(y), kLeft + pw, sy(y), kLeft - 6, sy(y) + 4, profiler::si_number(y));
  for (const auto& p : points) {
    double n = num(p, "threads");
    s += absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#333\">%g</text>\n",
        sx(n), kTop + ph, sx(n), kTop + ph + 5, sx(n), kTop + ph + 18, n);
  }
  s += absl::StrFormat(
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
      kLeft, kTop, kLeft, kTop + ph, kLeft, kTop + ph, kLeft + pw, kTop + ph);
  s += absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">threads (N)</text>\n", kLeft + pw / 2,
                       kHeight - 14);
  s += absl::StrFormat("<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">throughput "
                       "(per second)</text>\n",
                       kTop + ph / 2);

  // The fitted curve.
  if (have_curve) {
    std::vector<std::string> pts;
    for (int i = 0; i <= kCurveSamples; ++i) {
      double n = 1 + (max_n - 1) * i / kCurveSamples;
      pts.push_back(absl::StrFormat("%.1f,%.1f", sx(n), sy(model(n))));
    }
    s += "<polyline class=\"fit\" fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\" points=\"" +
         absl::StrJoin(pts, " ") + "\"/>\n";
  }
  // The peak.
  if (have_curve && peak_n > 0 && peak_n <= max_n) {
    s += absl::StrFormat(
        "<line class=\"peak\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#b42318\" "
        "stroke-dasharray=\"5,4\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#b42318\">peak N*=%.1f (%s)</text>\n",
        sx(peak_n), kTop, sx(peak_n), kTop + ph, sx(peak_n) + 5, sy(model(peak_n)) - 8, peak_n,
        profiler::si_number(model(peak_n)));
  }
  // Every run (small, grey) and the medians (large).
  for (const auto& p : points) {
    double n = num(p, "threads");
    for (const auto& r : p.value("runs", json::array()))
      if (r.is_number())
        s += absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#999\"/>\n", sx(n), sy(r.get<double>()));
    s += absl::StrFormat(
        "<circle class=\"measured\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#111\"><title>%g threads: %s</title>"
        "</circle>\n",
        sx(n), sy(num(p, "throughput")), n, profiler::si_number(num(p, "throughput")));
  }
  // Legend: one row under the plot, left of the axis title.
  const double lx = kLeft, ly = kHeight - 18;
  s += absl::StrFormat(
      "<g class=\"legend\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#111\"/>"
      "<text x=\"%.1f\" y=\"%.1f\">median</text>"
      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#999\"/><text x=\"%.1f\" y=\"%.1f\">each run</text>"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f6feb\" stroke-width=\"2\"/>"
      "<text x=\"%.1f\" y=\"%.1f\">USL fit</text></g>\n",
      lx, ly - 4, lx + 9, ly, lx + 70, ly - 4, lx + 78, ly, lx + 145, ly - 4, lx + 165, ly - 4, lx + 171, ly);
  s += "</svg>\n";
  return s;
}

absl::Status write_scaling_svg(const json& scale_table, const std::string& path) {
  return model::write_file_atomically(path, render_scaling_svg(scale_table));
}

}  // namespace ccprof::report
