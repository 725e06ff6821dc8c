// libFuzzer harness for the instruction decoder (decode mode's data addresses):
// registers + fsbase + code bytes from the input, decoded as one instruction and as
// "the instruction before ip" over a function's code. Built with -DCCPROF_FUZZ=ON.
#include <cstdint>
#include <cstring>
#include <vector>

#include "profiler/decode_access.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ccprof::profiler;
  constexpr size_t kHead = sizeof(UserRegs) + 8 + 2;
  if (size < kHead) return 0;
  UserRegs regs;
  memcpy(regs.data(), data, sizeof regs);
  uint64_t fsbase;
  memcpy(&fsbase, data + sizeof regs, 8);
  const uint16_t ip_off = static_cast<uint16_t>(data[kHead - 2] | data[kHead - 1] << 8);
  const uint8_t* code = data + kHead;
  const size_t n = size - kHead;
  const uint64_t start = 0x401000;
  decode_instruction_access(code, n, start, regs, fsbase, /*regs_after=*/true);
  decode_instruction_access(code, n, start, regs, fsbase, /*regs_after=*/false);
  std::vector<uint8_t> fn(code, code + n);
  decode_previous_access(fn, start, start + (n ? ip_off % (n + 1) : 0), regs, fsbase);
  return 0;
}
