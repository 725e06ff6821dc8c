#include "profiler/text.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace ccprof::profiler {

std::string pct(double share) { return absl::StrFormat("%.0f%%", share * 100); }

std::string hex_address(uint64_t a) { return absl::StrFormat("0x%x", a); }

std::string short_file(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string site_text(const CodeLocation& loc) {
  std::string fn = loc.function;
  if (fn.empty()) fn = loc.module.empty() ? "an unknown function" : absl::StrFormat("%s+0x%x", short_file(loc.module), loc.module_offset);
  if (loc.file.empty() || loc.line <= 0) return fn;
  return absl::StrFormat("%s (%s:%d)", fn, short_file(loc.file), loc.line);
}

bool same_site(const CodeLocation& a, const CodeLocation& b) {
  if (!a.file.empty() || !b.file.empty()) return a.file == b.file && a.line == b.line && a.function == b.function;
  return a.function == b.function && a.module == b.module;
}

std::string si_number(double x) {
  if (!std::isfinite(x)) return "-";
  const char* suffix[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (std::fabs(x) >= 1000 && i < 4) {
    x /= 1000;
    ++i;
  }
  return absl::StrFormat("%.3g%s", x, suffix[i]);
}

std::string duration_text(double s) {
  if (!std::isfinite(s)) return "-";
  const auto three = [](double v, const char* unit) {
    return absl::StrFormat("%.3g %s", v, unit);  // 3 significant digits, no exponent below 1000
  };
  if (s >= 1) return absl::StrFormat("%.2f s", s);
  if (s >= 1e-3) return three(s * 1e3, "ms");
  if (s >= 1e-6) return three(s * 1e6, "µs");
  return absl::StrFormat("%.0f ns", s * 1e9);
}

std::string count_of(uint64_t n, const std::string& singular, const std::string& plural) {
  return absl::StrFormat("%d %s", n, n == 1 ? singular : plural);
}

nlohmann::json place_json(const CodeLocation& loc, nlohmann::json more) {
  nlohmann::json row = {{"function", loc.function}, {"file", loc.file}, {"line", loc.line}};
  row.update(more);
  return row;
}

}  // namespace ccprof::profiler
