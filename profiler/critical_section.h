#pragma once
// Static view of a critical section: the instructions from the return address of a
// lock call up to the next call (the unlock), decoded from the target's code on disk.
// Used when too few timer samples fell inside a tiny critical section to say what it
// touches (s04: one `add [rip+x], 1` between lock and unlock).
#include <cstdint>
#include <string>
#include <vector>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {

struct CriticalSectionAccess {
  uint64_t insn_addr = 0;
  uint64_t data_addr = 0;  // static (RIP-relative) address
  uint32_t size = 0;
  bool read = false, write = false, locked = false;
};

struct CriticalSection {
  bool decoded = false;
  std::string stop;  // why decoding stopped: "call", "tail-call", "ret", "limit", "undecodable", "no code"
  int instructions = 0;
  std::vector<CriticalSectionAccess> accesses;  // non-stack accesses with a static address
  int dynamic_accesses = 0;  // non-stack accesses through registers (address unknown statically)
};

CriticalSection decode_critical_section(Symbolizer& sym, uint64_t after_lock_call, int max_instructions = 48);

}  // namespace ccprof::profiler
