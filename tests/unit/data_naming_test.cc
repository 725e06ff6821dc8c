#include "profiler/data_naming.h"

#include <Zydis/Zydis.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "agent/proc.h"
#include "profiler/decode_access.h"
#include "tests/unit/self_symbolizer.h"

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

// Heap-style data: reached through a pointer parameter that stays in its register.
__attribute__((noinline)) void naming_bump_errors(NamingStats* stats) {
  stats->errors++;
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void naming_bump_next(NamingPadded* slots) {
  slots[1].value++;
  asm volatile("" ::: "memory");
}

namespace ccprof::profiler {
namespace {

class DataNaming : public SelfSymbolizerTest {
 protected:
  std::string name(const void* p) { return data_member_name(*sym_, reinterpret_cast<uint64_t>(p)); }
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

// The first memory access of `fn`, decoded as the sampler's decoder does with the
// pointer argument in rdi.
DecodedAccess first_access(const void* fn, void* arg) {
  UserRegs regs{};
  regs[kRdi] = reinterpret_cast<uint64_t>(arg);
  const auto* code = static_cast<const uint8_t*>(fn);
  for (size_t off = 0; off < 64;) {
    const uint64_t ip = reinterpret_cast<uint64_t>(code + off);
    DecodeResult r = decode_instruction_access(code + off, 15, ip, regs, 0, false);
    if (r.access) return *r.access;
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    ZydisDecodedInstruction insn;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, nullptr, code + off, 15, &insn))) break;
    off += insn.length;
  }
  return {};
}

TEST_F(DataNaming, HeapDataByThePointersType) {
  NamingStats stats{};
  naming_bump_errors(&stats);
  const DecodedAccess a = first_access(reinterpret_cast<const void*>(&naming_bump_errors), &stats);
  ASSERT_EQ(a.data_addr, reinterpret_cast<uint64_t>(&stats.errors));
  EXPECT_EQ(a.base_dwarf_reg, 5);  // rdi
  EXPECT_EQ(a.base_value, reinterpret_cast<uint64_t>(&stats));
  EXPECT_EQ(pointee_member_name(*sym_, a.insn_addr, a.base_dwarf_reg, a.data_addr - a.base_value),
            "NamingStats.errors (via stats)");
  // Another register holds no such variable there.
  EXPECT_EQ(pointee_member_name(*sym_, a.insn_addr, 3, 8), "");
}

TEST_F(DataNaming, ElementPastThePointedOne) {
  NamingPadded slots[2]{};
  naming_bump_next(slots);
  const DecodedAccess a = first_access(reinterpret_cast<const void*>(&naming_bump_next), slots);
  ASSERT_EQ(a.data_addr, reinterpret_cast<uint64_t>(&slots[1].value));
  EXPECT_EQ(pointee_member_name(*sym_, a.insn_addr, a.base_dwarf_reg, a.data_addr - a.base_value),
            "NamingPadded[+1].value (via slots)");
}

}  // namespace
}  // namespace ccprof::profiler
