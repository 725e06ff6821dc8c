// The frame-pointer chain of a memory sample, checked against this test binary's own
// code: a return address counts only after a direct call to the function one level in.
#include "profiler/frame_callers.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/unit/self_symbolizer.h"

// outer -> caller -> callee, each a direct call (the asm keeps them from being tail calls).
__attribute__((noinline)) uint64_t fc_test_callee() {
  uint64_t r = reinterpret_cast<uint64_t>(__builtin_return_address(0));
  asm volatile("" : "+r"(r));
  return r;
}
__attribute__((noinline)) uint64_t fc_test_caller(uint64_t* caller_ret) {
  *caller_ret = reinterpret_cast<uint64_t>(__builtin_return_address(0));
  uint64_t r = fc_test_callee();
  asm volatile("" : "+r"(r));
  return r;
}
__attribute__((noinline)) uint64_t fc_test_outer(uint64_t* caller_ret) {
  uint64_t r = fc_test_caller(caller_ret);
  asm volatile("" : "+r"(r));
  return r;
}

namespace ccprof::profiler {
namespace {

constexpr uint64_t kSp = 0x7ffd10000000, kBp = kSp + 0x40, kBp2 = kSp + 0x100;

// A sample taken in fc_test_callee with rbp at kBp: {kBp2, ret} there, {0, ret2} at kBp2.
model::MemorySample sample_with_frames(uint64_t ret, uint64_t ret2) {
  model::MemorySample m;
  m.regs[model::kRsp] = kSp;
  m.regs[model::kRbp] = kBp;
  m.regs[model::kRip] = reinterpret_cast<uint64_t>(&fc_test_callee) + 1;
  auto frame = [](uint64_t at, uint64_t saved, uint64_t r) {
    model::StackWindow w;
    w.addr = at;
    w.bytes.resize(16);
    std::memcpy(w.bytes.data(), &saved, 8);
    std::memcpy(w.bytes.data() + 8, &r, 8);
    return w;
  };
  m.stack_windows = {frame(kBp, kBp2, ret), frame(kBp2, 0, ret2)};
  return m;
}

using FrameCallersTest = SelfSymbolizerTest;

TEST_F(FrameCallersTest, ReturnAddressAfterADirectCallToTheCallee) {
  uint64_t ret2 = 0;
  const uint64_t ret = fc_test_outer(&ret2);
  FrameCallerFinder finder(*sym_);
  const uint64_t in_callee = reinterpret_cast<uint64_t>(&fc_test_callee) + 1;
  const uint64_t in_caller = reinterpret_cast<uint64_t>(&fc_test_caller) + 1;
  EXPECT_TRUE(finder.returns_from_call_to(ret, in_callee));
  EXPECT_TRUE(finder.returns_from_call_to(ret2, in_caller));
  // The same return address is no call to another function, and data is no code.
  EXPECT_FALSE(finder.returns_from_call_to(ret, in_caller));
  EXPECT_FALSE(finder.returns_from_call_to(ret2, in_callee));
  EXPECT_FALSE(finder.returns_from_call_to(reinterpret_cast<uint64_t>(&kBp) + 5, in_callee));
  EXPECT_FALSE(finder.returns_from_call_to(0, in_callee));
}

TEST_F(FrameCallersTest, ChainOfTwoCheckedLevels) {
  uint64_t ret2 = 0;
  const uint64_t ret = fc_test_outer(&ret2);
  FrameCallerFinder finder(*sym_);
  const model::MemorySample m = sample_with_frames(ret, ret2);
  const FrameCallers c = finder.callers(m.regs[model::kRip], m);
  EXPECT_EQ(c[0], ret);
  EXPECT_EQ(c[1], ret2);
  EXPECT_EQ(c[2], 0u);  // the saved rbp at kBp2 is 0: no frame above
}

// What code without frame pointers (or a sample in a prologue) looks like: nothing is
// believed.
TEST_F(FrameCallersTest, NoCallerWithoutAFramePointer) {
  uint64_t ret2 = 0;
  const uint64_t ret = fc_test_outer(&ret2);
  FrameCallerFinder finder(*sym_);
  model::MemorySample m = sample_with_frames(ret, ret2);
  // rbp a general register (below rsp, or far from it).
  m.regs[model::kRbp] = 0x1234;
  EXPECT_EQ(finder.callers(m.regs[model::kRip], m)[0], 0u);
  m.regs[model::kRbp] = kSp + (2u << 20);
  EXPECT_EQ(finder.callers(m.regs[model::kRip], m)[0], 0u);
  // rbp still the caller's frame (a sample in the callee's prologue): [rbp+8] returns
  // from the call to the caller, not to the sampled function.
  m = sample_with_frames(ret2, 0);
  EXPECT_EQ(finder.callers(m.regs[model::kRip], m)[0], 0u);
  // A word that is not a return address at all (a heap pointer where rbp pointed).
  m = sample_with_frames(reinterpret_cast<uint64_t>(&ret2), ret2);
  EXPECT_EQ(finder.callers(m.regs[model::kRip], m)[0], 0u);
  // The frame not in the sample's windows (an older recording): nothing.
  m = sample_with_frames(ret, ret2);
  m.stack_windows.clear();
  EXPECT_EQ(finder.callers(m.regs[model::kRip], m)[0], 0u);
  // A check that fails one level up stops the chain there.
  m = sample_with_frames(ret, ret);
  const FrameCallers c = finder.callers(m.regs[model::kRip], m);
  EXPECT_EQ(c[0], ret);
  EXPECT_EQ(c[1], 0u);
}

}  // namespace
}  // namespace ccprof::profiler
