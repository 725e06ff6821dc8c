// libFuzzer harness for the ELF/DWARF-facing code on mutated binaries: the input is an
// ELF file (seeds: small -O2 -g programs) mapped at 0x400000 in a synthetic process;
// the symbolizer (symbols, DWARF lines and inline chains, data symbols and member
// names), the unwinder (.eh_frame / .debug_frame CFI) and the decoder (function bounds,
// code bytes) run over it. libdw is not instrumented: ASan sees ccprof's side, and any
// crash inside libdw counts too. Built with -DCCPROF_FUZZ=ON.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "profiler/data_naming.h"
#include "profiler/decode_access.h"
#include "profiler/unwinder.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ccprof::profiler;
  const std::string& path = ccprof::fuzz::scratch_path("elf");
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);

  constexpr uint64_t kBase = 0x400000, kSpan = 0x4000, kSp = 0x7ff000;
  ProcessInfo proc;
  proc.pid = 1;
  proc.maps.push_back({kBase, kBase + kSpan, 0, "r-xp", path, 1});
  proc.maps.push_back({kSp - 0x1000, kSp + 0x1000, 0, "rw-p", "[stack]", 0});
  Symbolizer sym(proc);
  for (uint64_t a = kBase; a < kBase + kSpan; a += 0x20) {
    sym.code(a);
    sym.data(a);
  }
  data_member_name(sym, kBase + 0x3010);
  // A stack whose slots point back into the module, so CFI of many functions is used.
  StackCopy sc;
  sc.pid = sc.tid = 1;
  for (int i = 0; i < kNumRegs; ++i) sc.regs[i] = kBase + 0x1000 + 0x10 * i;
  sc.regs[kRsp] = kSp;
  sc.regs[kRip] = kBase + 0x1000 + (size ? data[size / 2] : 0) * 4;
  sc.stack.resize(512);
  for (size_t i = 0; i + 8 <= sc.stack.size(); i += 8) {
    uint64_t v = (i / 8) % 3 == 0 ? kBase + 0x1000 + i * 3 : kSp + i;
    memcpy(sc.stack.data() + i, &v, 8);
  }
  unwind_stack(sym, sc, 32);
  AccessDecoder dec(sym);
  for (uint64_t a = kBase + 0x1000; a < kBase + 0x2000; a += 0x40) dec.decode(a, sc.regs, 0);
  unlink(path.c_str());  // nothing is left behind when the run ends
  return 0;
}
