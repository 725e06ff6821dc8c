#include "profiler/data_naming.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "agent/proc.h"

// Globals of this test binary, named back from their addresses through DWARF.
struct NamingStats {
  int64_t requests;
  int64_t errors;
  struct {
    int32_t lo, hi;
  } range;
};
struct alignas(64) NamingPadded {
  int64_t value;
};
NamingStats g_naming_stats;
int64_t g_naming_counters[8];
NamingPadded g_naming_padded[4];
int32_t g_naming_grid[3][4];
std::atomic<int64_t> g_naming_atomic;

namespace ccprof::profiler {
namespace {

class DataNaming : public ::testing::Test {
 protected:
  void SetUp() override {
    proc_.pid = static_cast<uint32_t>(getpid());
    proc_.maps = *agent::read_maps(proc_.pid);
    sym_ = std::make_unique<Symbolizer>(proc_);
  }
  std::string name(const void* p) { return data_member_name(*sym_, reinterpret_cast<uint64_t>(p)); }
  ProcessInfo proc_;
  std::unique_ptr<Symbolizer> sym_;
};

TEST_F(DataNaming, ArrayElement) {
  EXPECT_EQ(name(&g_naming_counters[0]), "g_naming_counters[0]");
  EXPECT_EQ(name(&g_naming_counters[3]), "g_naming_counters[3]");
  // Inside an element: the element and the byte offset in it.
  EXPECT_EQ(name(reinterpret_cast<const char*>(&g_naming_counters[5]) + 2), "g_naming_counters[5]+2");
}

TEST_F(DataNaming, StructMembersNested) {
  EXPECT_EQ(name(&g_naming_stats.requests), "g_naming_stats.requests");
  EXPECT_EQ(name(&g_naming_stats.errors), "g_naming_stats.errors");
  EXPECT_EQ(name(&g_naming_stats.range.hi), "g_naming_stats.range.hi");
}

TEST_F(DataNaming, ArrayOfPaddedStructsAndPadding) {
  EXPECT_EQ(name(&g_naming_padded[2].value), "g_naming_padded[2].value");
  EXPECT_EQ(name(reinterpret_cast<const char*>(&g_naming_padded[1]) + 16), "g_naming_padded[1]+16");
}

TEST_F(DataNaming, TwoDimensionalArray) { EXPECT_EQ(name(&g_naming_grid[2][1]), "g_naming_grid[2][1]"); }

TEST_F(DataNaming, LibraryInternalsStopAtTheVariable) { EXPECT_EQ(name(&g_naming_atomic), "g_naming_atomic"); }

TEST_F(DataNaming, NonGlobalsHaveNoMemberNameButADescription) {
  int64_t local = 0;
  EXPECT_EQ(name(&local), "");
  EXPECT_FALSE(describe_data(*sym_, reinterpret_cast<uint64_t>(&local)).empty());
}

}  // namespace
}  // namespace ccprof::profiler
