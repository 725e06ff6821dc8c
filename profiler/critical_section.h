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

// Whether a critical section's work is all in the function that takes the lock, so that
// the memory samples taken in that function (and its inlined code) show what the
// section does. Found by walking the code from the lock call's return address along
// its laid-out path (unconditional jumps followed, loops left at their back edge) to
// the unlock: a call to a function named *unlock* (through the PLT, or a lock
// library's own code) or an inlined atomic release (xchg / lock-prefixed RMW, as Rust's
// std and parking_lot unlock). A call on the way to the program's own code, or one
// whose target is not known (indirect), means part of the section runs in a callee
// whose samples are not attributed to the lock (s02 at -O0: the reader's lookup is not
// inlined; Rust: `bump` called through the GOT).
struct SectionExtent {
  bool decoded = false;         // the code could be read
  bool self_contained = false;  // reached the unlock without leaving for other code
  std::string reason;           // "unlock", "atomic release", "calls route_request", "indirect call", ...
  // A store to shared memory (not the thread's stack or TLS) on the walked path before
  // the unlock: the section writes, whatever its samples show (kv_server at -O3: the
  // stats' increments right before the unlock, the map lookup before them in a callee).
  // The walk goes on past a call into other code to look for one; callees are not walked.
  bool writes_shared = false;
  // The first of the program's own functions the section calls directly (before the
  // unlock) whose code stores to shared memory anywhere in its body: the section's work
  // there writes, or may, even when no store of it was sampled (-O0: `record(word)` out
  // of line stores once per call after ~1 us of loads). "" when none does, or their code
  // cannot be read (no symbol bounds). A callee's stores through a pointer to its
  // caller's stack count too (the code does not say where a pointer points): this errs
  // toward "writes".
  std::string callee_writer;
  // The walk reached the unlock (self-contained or not), and on the way: the return
  // addresses of its direct calls to the program's own code (where the section's work
  // went), and whether it made an indirect call (work that cannot be placed).
  bool unlocked = false;
  std::vector<uint64_t> program_calls;
  bool indirect_call = false;
  // Back edges on the walked path before the unlock (a jump, conditional or not, to code
  // already walked): the section repeats work, so it is more than one update of a word
  // (parking_lot's s01: a digest loop whose compute has no data address to sample).
  int loops = 0;
};
// `lock_word`, when known and a static address: a plain store to it is the unlock too
// (a spin lock's release: tbb::spin_mutex's and atomic_flag::clear's `movb $0,word`).
SectionExtent walk_critical_section(Symbolizer& sym, uint64_t after_lock_call, int max_instructions = 2000,
                                    uint64_t lock_word = 0);

// The dynamic symbol a PLT stub at `addr` jumps to (.plt.sec or lazy .plt), "" when
// `addr` is not a PLT stub of its module.
std::string plt_target_name(Symbolizer& sym, uint64_t addr);

}  // namespace ccprof::profiler
