#include "profiler/frame_callers.h"

#include <cstring>
#include <string>
#include <vector>

namespace ccprof::profiler {

std::optional<uint64_t> stack_word(const model::MemorySample& m, uint64_t addr) {
  for (const auto& w : m.stack_windows)
    if (addr >= w.addr && addr - w.addr + 8 <= w.bytes.size()) {
      uint64_t v = 0;
      std::memcpy(&v, w.bytes.data() + (addr - w.addr), 8);
      return v;
    }
  return std::nullopt;
}

bool FrameCallerFinder::returns_from_call_to(uint64_t return_address, uint64_t callee_pc) {
  auto [it, fresh] = call_targets_.try_emplace(return_address, 0);
  if (fresh) {
    constexpr uint64_t kCallRel32 = 5;  // e8 + rel32
    std::vector<uint8_t> code;
    if (return_address >= kCallRel32 && sym_.read_file_bytes(return_address - kCallRel32, kCallRel32, code) &&
        code.size() == kCallRel32 && code[0] == 0xe8) {
      int32_t rel = 0;
      std::memcpy(&rel, code.data() + 1, 4);
      it->second = return_address + static_cast<int64_t>(rel);
    }
  }
  if (!it->second) return false;
  const std::string callee = function_identity(sym_.code(callee_pc));
  return !callee.empty() && function_identity(sym_.code(it->second)) == callee;
}

FrameCallers FrameCallerFinder::callers(uint64_t pc, const model::MemorySample& m) {
  FrameCallers out{};
  uint64_t bp = m.regs[model::kRbp], below = m.regs[model::kRsp], inner = pc;
  for (size_t level = 0; level < out.size(); ++level) {
    if (bp < below || bp - below > (1u << 20)) break;  // not a frame of this stack
    const auto saved_bp = stack_word(m, bp), ret = stack_word(m, bp + 8);
    if (!ret || !returns_from_call_to(*ret, inner)) break;
    out[level] = *ret;
    if (!saved_bp) break;
    inner = *ret - 1;
    below = bp + 16;
    bp = *saved_bp;
  }
  return out;
}

}  // namespace ccprof::profiler
