#include "profiler/printable_log.h"

#include <string_view>

#include "model/printable.h"

namespace ccprof::profiler {
namespace {

class PrintablePayload final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string text = model::printable(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<PrintablePayload>(); }
};

}  // namespace

std::unique_ptr<spdlog::formatter> printable_log_formatter(const std::string& pattern) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<PrintablePayload>('*').set_pattern(pattern);
  return f;
}

}  // namespace ccprof::profiler
