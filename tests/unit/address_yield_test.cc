#include "profiler/address_yield.h"

#include <gtest/gtest.h>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {
namespace {

TEST(AddressYield, CountsPerModuleOfTheSampledInstruction) {
  ProcessInfo p;
  p.pid = 1;
  p.maps.push_back({0x400000, 0x401000, 0, "r-xp", "/bin/app", 1});
  p.maps.push_back({0x7f0000000000, 0x7f0000001000, 0, "r-xp", "/lib/libc.so.6", 2});
  Symbolizer sym(p);
  AddressYield y;
  for (int i = 0; i < 8; ++i) {
    auto& m = y.module(&sym, 0x400010);
    ++m.samples;
    ++m.with_address;
  }
  auto& app = y.module(&sym, 0x400020);
  ++app.samples;
  ++app.no_address["no_memory_operand"];
  ++app.samples;
  ++app.no_address["base_overwritten"];
  ++y.module(&sym, 0x7f0000000010).samples;
  ++y.module(&sym, 0x10).samples;  // outside every mapping
  nlohmann::json j = y.modules_json();
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["module"], "/bin/app");  // most samples first
  EXPECT_EQ(j[0]["samples"], 10);
  EXPECT_EQ(j[0]["with_address"], 8);
  EXPECT_DOUBLE_EQ(j[0]["address_yield"].get<double>(), 0.8);
  // The sample whose instruction had no memory operand is not in the denominator.
  EXPECT_EQ(j[0]["samples_touching_memory"], 9);
  EXPECT_DOUBLE_EQ(j[0]["memory_address_yield"].get<double>(), 8.0 / 9);
  EXPECT_EQ(j[0]["no_address"]["base_overwritten"], 1);
  bool unknown = false;
  for (const auto& m : j) unknown |= m["module"] == "[unknown]";
  EXPECT_TRUE(unknown);
}

TEST(AddressYield, TouchingMemoryLeavesOutOnlyCausesThatTouchNoMemory) {
  std::map<std::string, uint64_t> why = {{"no_memory_operand", 3}, {"previous_is_branch", 2},
                                         {"at_function_start", 1}, {"branch_target", 4}, {"no_function", 5}};
  EXPECT_EQ(AddressYield::touching_memory(20, why), 14u);
  EXPECT_EQ(AddressYield::touching_memory(3, why), 0u);
}

}  // namespace
}  // namespace ccprof::profiler
