// scaling.svg from a findings.json "scale" table.
#include "report/scaling_svg.h"

#include <gtest/gtest.h>

namespace ccprof::report {
namespace {

using nlohmann::json;

json table(bool retrograde) {
  json points = json::array();
  for (auto [n, x] : std::vector<std::pair<int, double>>{{1, 8e6}, {2, 11e6}, {4, 11e6}, {8, 7.5e6}, {16, 4.6e6}})
    points.push_back({{"threads", n}, {"throughput", x}, {"runs", {x * 0.98, x, x * 1.02}}, {"fitted", x}});
  return {{"command", {"./w<script>", "--threads={threads}"}},
          {"points", points},
          {"fit", {{"fitted", true}, {"alpha", 0.3}, {"beta", 0.08}, {"lambda", 8e6}, {"r2", 0.97}, {"peak_n", 2.6}}},
          {"retrograde", {{"detected", retrograde}, {"reason", "throughput peaks near N* = 2.6 & falls"}}}};
}

TEST(ScalingSvg, DrawsPointsCurvePeakAndRetrogradeRegion) {
  std::string svg = render_scaling_svg(table(true));
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("class=\"fit\""), std::string::npos);
  EXPECT_NE(svg.find("class=\"peak\""), std::string::npos);
  EXPECT_NE(svg.find("peak N*=2.6"), std::string::npos);
  EXPECT_NE(svg.find("class=\"retrograde\""), std::string::npos);
  size_t measured = 0;
  for (size_t p = svg.find("class=\"measured\""); p != std::string::npos; p = svg.find("class=\"measured\"", p + 1))
    ++measured;
  EXPECT_EQ(measured, 5u);
}

TEST(ScalingSvg, NoRetrogradeRegionWhenNoneWasFound) {
  std::string svg = render_scaling_svg(table(false));
  EXPECT_EQ(svg.find("class=\"retrograde\""), std::string::npos);
}

TEST(ScalingSvg, EscapesTextFromTheCommand) {
  std::string svg = render_scaling_svg(table(true));
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("./w&lt;script&gt;"), std::string::npos);
  EXPECT_NE(svg.find("N* = 2.6 &amp; falls"), std::string::npos);
}

TEST(ScalingSvg, EmptyTableStillMakesADocument) {
  std::string svg = render_scaling_svg(json::object());
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

}  // namespace
}  // namespace ccprof::report
