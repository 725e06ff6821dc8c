// Unwinds a stack copy captured from this very process (registers + a copy of the
// stack, as the BPF collector sends them) offline with libdw, without root.
#include "profiler/unwinder.h"

#include <gtest/gtest.h>
#include <ucontext.h>

#include <algorithm>
#include <cstring>

#include "agent/proc.h"
#include "tests/unit/stack_capture.h"

namespace ccprof::profiler {
namespace {

__attribute__((noinline)) void outer_frame() {
  middle_frame();
  asm volatile("" ::: "memory");
}

TEST(Unwinder, UnwindsARecordedStackThroughFramesWithoutFramePointers) {
  outer_frame();
  ProcessInfo proc;
  proc.pid = static_cast<uint32_t>(getpid());
  auto maps = agent::read_maps(proc.pid);
  ASSERT_TRUE(maps.ok());
  proc.maps = *maps;
  Symbolizer sym(proc);
  UnwindResult r = unwind_stack(sym, g_captured);
  ASSERT_GE(r.frames.size(), 3u) << r.error;
  std::vector<std::string> names;
  for (const auto& f : r.frames) names.push_back(f.loc.function);
  EXPECT_NE(names[0].find("capture_here"), std::string::npos) << names[0];
  auto pos = [&](const char* n) {
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i].find(n) != std::string::npos) return static_cast<int>(i);
    return -1;
  };
  std::string all;
  for (const auto& n : names) all += n + " <- ";
  ASSERT_GT(pos("middle_frame"), 0) << all << r.error;
  ASSERT_GT(pos("outer_frame"), pos("middle_frame")) << all;
  // The frame of outer_frame has its source line in this file.
  const Frame& outer = r.frames[pos("outer_frame")];
  EXPECT_NE(outer.loc.file.find("unwinder_test.cc"), std::string::npos) << outer.loc.file;
  EXPECT_GT(outer.loc.line, 0);
}

TEST(Unwinder, EmptyStackCopyStopsWithoutCrashing) {
  ProcessInfo proc;
  proc.pid = static_cast<uint32_t>(getpid());
  proc.maps = *agent::read_maps(proc.pid);
  Symbolizer sym(proc);
  StackCopy s;
  s.tid = static_cast<uint32_t>(gettid());
  s.regs[kRip] = reinterpret_cast<uint64_t>(&outer_frame) + 4;
  s.regs[kRsp] = 0x1000;
  UnwindResult r = unwind_stack(sym, s);
  EXPECT_LE(r.frames.size(), 2u);
}

TEST(Unwinder, StackCopyReadsStayInsideTheCopyNearTheTopOfTheAddressSpace) {
  // Found by the recording fuzzer: an address near 2^64 made `addr + 8` wrap and the
  // bounds check pass, reading far outside the copy (SEGV under ASan).
  StackCopy s;
  s.regs[kRsp] = 0x1000;
  s.stack.assign(0x100, 0xab);
  uint64_t v = 0;
  EXPECT_TRUE(read_stack_copy(s, 0x1000, &v));
  EXPECT_EQ(v, 0xababababababababull);
  EXPECT_TRUE(read_stack_copy(s, 0x10f8, &v));
  EXPECT_FALSE(read_stack_copy(s, 0x10f9, &v));
  EXPECT_FALSE(read_stack_copy(s, 0xfff, &v));
  EXPECT_FALSE(read_stack_copy(s, ~0ull - 3, &v));
  EXPECT_FALSE(read_stack_copy(s, ~0ull, &v));
  s.regs[kRsp] = ~0ull - 0x10;  // a copy that would end past 2^64
  EXPECT_TRUE(read_stack_copy(s, ~0ull - 0x10, &v));
  EXPECT_FALSE(read_stack_copy(s, 0x8, &v));
}

}  // namespace
}  // namespace ccprof::profiler
