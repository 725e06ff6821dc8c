#pragma once
// A StackCopy of the calling thread, made from a ucontext the way the collectors make
// one in the kernel (registers in DWARF order, up to 8 KiB from sp, stopping at the end
// of the stack mapping: the main thread may have less above sp), for tests that unwind
// or symbolize a real stack without BPF. The caller takes the context in its own
// noinline frame (getcontext) so the unwound stack starts there.
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>

#include "agent/proc.h"
#include "model/recording.h"

namespace ccprof::profiler {

inline model::StackCopy stack_copy_from(const ucontext_t& uc) {
  using namespace model;
  const greg_t* g = uc.uc_mcontext.gregs;
  StackCopy s;
  s.pid = static_cast<uint32_t>(getpid());
  s.tid = static_cast<uint32_t>(gettid());
  const int from[kNumRegs] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
                              REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
  for (int i = 0; i < kNumRegs; ++i) s.regs[i] = g[from[i]];
  uint64_t end = s.regs[kRsp] + 8192;
  const auto maps = agent::read_maps(s.pid);  // a named StatusOr: *temporary would dangle in the loop
  if (maps.ok())
    for (const auto& m : *maps)
      if (s.regs[kRsp] >= m.start && s.regs[kRsp] < m.end) end = std::min(end, m.end);
  const auto* sp = reinterpret_cast<const uint8_t*>(s.regs[kRsp]);
  s.stack.assign(sp, sp + (end - s.regs[kRsp]));
  return s;
}

// Tests that unwind a real stack call middle_frame(), which calls capture_here(): the
// stack captured there is in g_captured, and both names must appear in its frames.
inline model::StackCopy g_captured;

__attribute__((noinline)) inline void capture_here() {
  ucontext_t uc;
  getcontext(&uc);
  g_captured = stack_copy_from(uc);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) inline void middle_frame() {
  capture_here();
  asm volatile("" ::: "memory");
}

}  // namespace ccprof::profiler
