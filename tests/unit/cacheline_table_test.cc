#include "profiler/cacheline_table.h"

#include <gtest/gtest.h>

namespace ccprof::profiler {
namespace {

MemoryAccess acc(uint32_t tid, uint64_t addr, AccessKind k, uint64_t t = 1000, uint64_t ip = 0x401000,
                 uint32_t size = 8) {
  MemoryAccess a;
  a.pid = 1;
  a.tid = tid;
  a.time_ns = t;
  a.insn_addr = ip;
  a.data_addr = addr;
  a.size = size;
  a.kind = k;
  return a;
}

TEST(CacheLineTable, GroupsLineOffsetThread) {
  CacheLineTable t;
  t.add(acc(10, 0x7000, AccessKind::kWrite, 100));
  t.add(acc(10, 0x7000, AccessKind::kRead, 300));
  t.add(acc(11, 0x7008, AccessKind::kLockedRmw, 200, 0x401010));
  t.add(acc(11, 0x7008, AccessKind::kCas, 250, 0x401020));
  t.add(acc(12, 0x7040, AccessKind::kRead));  // the next line
  ASSERT_EQ(t.lines().size(), 2u);
  auto lines = t.by_samples();
  const CacheLine& l = *lines[0];
  EXPECT_EQ(l.address, 0x7000u);
  EXPECT_EQ(l.total.samples(), 4u);
  ASSERT_EQ(l.offsets.size(), 2u);
  const OffsetStats& o0 = l.offsets.at(0);
  EXPECT_EQ(o0.threads.at(10).writes, 1u);
  EXPECT_EQ(o0.threads.at(10).reads, 1u);
  EXPECT_EQ(o0.threads.at(10).first_ns, 100u);
  EXPECT_EQ(o0.threads.at(10).last_ns, 300u);
  const OffsetStats& o8 = l.offsets.at(8);
  EXPECT_EQ(o8.threads.at(11).locked, 1u);
  EXPECT_EQ(o8.threads.at(11).cas, 1u);
  EXPECT_EQ(o8.instructions.size(), 2u);
  EXPECT_EQ(o8.instructions.at(0x401020).kind, AccessKind::kCas);
  EXPECT_EQ(l.threads.size(), 2u);
}

TEST(CacheLineTable, FootprintsAreByteRanges) {
  CacheLineTable t;
  t.add(acc(10, 0x7000, AccessKind::kWrite));
  t.add(acc(11, 0x7008, AccessKind::kRead, 1000, 0x401000, 4));
  auto fp = footprints(*t.by_samples()[0]);
  EXPECT_EQ(fp[10].written, 0xffu);
  EXPECT_EQ(fp[10].accessed, 0xffu);
  EXPECT_EQ(fp[11].written, 0u);
  EXPECT_EQ(fp[11].accessed, 0xf00u);
}

}  // namespace
}  // namespace ccprof::profiler
