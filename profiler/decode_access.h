#pragma once
// decode_access(): which data address a timer sample's thread had just accessed.
//
// A software timer sample's IP is the instruction *after* the one that was running
// (the interrupt is taken at an instruction boundary, after the running one
// retired). So the access is the previous instruction's memory operand, computed
// from the sampled registers, which hold the state *after* it ran. The previous
// instruction is found by linear decode from the start of the enclosing function
// (x86 cannot be decoded backwards). Probe q45: 98.8% of samples yielded a correct
// address this way, against 10% when decoding the instruction at the IP.
//
// Real builds need three more steps (issue 11):
// - stripped code has no symbol to start the linear decode from: function bounds
//   then come from .eh_frame (profiler/eh_frame_bounds.h);
// - a rotated loop (`jmp cond; body: ...; cond: ...; jcc body`, gcc -O2) makes the
//   IP after the body's last instruction a jump target; when every jump to it comes
//   from outside the loop that contains both, those jumps only enter the loop and
//   the fall-through predecessor is the one that ran (on all iterations but the
//   first);
// - -O0 code reloads a pointer into the register it dereferences
//   (`mov -0x10(%rbp),%rax; mov 0x8(%rax),%rax`): the base is recovered by following
//   its definition backwards in the basic block (a register copy, lea, add/shl of a
//   known value, or a load from a stack slot read from the sample's stack window).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "profiler/eh_frame_bounds.h"
#include "profiler/model_names.h"

namespace ccprof::profiler {

class Symbolizer;

const char* access_kind_name(AccessKind k);  // "read", "write", "rmw", "locked-rmw", "cas"
inline bool is_write(AccessKind k) { return k != AccessKind::kRead; }
inline bool is_locked(AccessKind k) { return k == AccessKind::kLockedRmw || k == AccessKind::kCas; }
const char* decode_failure_name(DecodeFailure f);  // "no_code", "branch_target", ...
const char* decode_recovery_name(DecodeRecovery r);  // "loop_fall_through", ...

// A sample's decode (model/decoded_access.h) with what it read of the sample's stack.
struct DecodeResult : SampleDecode {
  // The stack bytes the decode read from the sample's stack windows, as (addr, size):
  // all the agent keeps of the windows (the same decode then reads the same bytes).
  std::vector<std::pair<uint64_t, uint32_t>> stack_reads;
};

// One function's instruction boundaries and direct jumps, decoded once.
struct FunctionCode {
  uint64_t start = 0;
  std::vector<uint8_t> code;
  std::vector<uint32_t> insn_offsets;                  // sorted
  std::map<uint64_t, std::vector<uint64_t>> jumps_to;  // target -> sources (direct jumps inside the function)
  std::vector<std::pair<uint64_t, uint64_t>> back_edges;  // (source, target) with target <= source
  bool complete = false;                               // the decode covered the whole code
  bool from_eh_frame = false;
  // store_follows_load() by load (an index into insn_offsets), found once per instruction.
  mutable std::unordered_map<size_t, bool> store_follows;
};
FunctionCode index_function(uint64_t start, std::vector<uint8_t> code);

// Whether the load at instruction `load` of `f` (an index into insn_offsets) is followed
// on every path (both ways at a conditional branch, direct jumps followed), within a few
// instructions and with its base and index registers unchanged, by a store to the same
// memory operand: a read-modify-write the compiler split in two.
bool store_follows_load(const FunctionCode& f, size_t load);

// The access of the instruction before `ip` in `f`; `stack` (may be null) holds the
// sample's copies of the user stack for base recovery.
DecodeResult decode_in_function(const FunctionCode& f, uint64_t ip, const UserRegs& regs, uint64_t fsbase,
                                const std::vector<StackWindow>* stack);

// The memory access of one instruction: `insn` at `insn_addr` with `regs`.
// `regs_after` = true when the registers are the state after the instruction ran:
// then an instruction that wrote its own base or index register is rejected.
DecodeResult decode_instruction_access(const uint8_t* insn, size_t len, uint64_t insn_addr, const UserRegs& regs,
                                       uint64_t fsbase, bool regs_after);

// The access of the instruction before `ip`, given the function's code from its start
// (`code` holds the bytes of [func_start, func_start + code.size()), covering ip).
// regs[kRip] is ignored; `ip` is the sampled IP.
DecodeResult decode_previous_access(const std::vector<uint8_t>& code, uint64_t func_start, uint64_t ip,
                                    const UserRegs& regs, uint64_t fsbase,
                                    const std::vector<StackWindow>* stack = nullptr);

// Decodes many samples of one process: finds function bounds (ELF symbols through
// the Symbolizer's libdw session, else .eh_frame), reads code from the mapped files
// and caches the decoded instructions per function.
class AccessDecoder {
 public:
  explicit AccessDecoder(Symbolizer& sym);
  ~AccessDecoder();
  DecodeResult decode(uint64_t ip, const UserRegs& regs, uint64_t fsbase,
                      const std::vector<StackWindow>* stack = nullptr);

 private:
  const FunctionCode* function_at(uint64_t ip, DecodeFailure* why);
  bool eh_frame_bounds(uint64_t ip, uint64_t* start, uint64_t* size);
  Symbolizer& sym_;
  std::map<uint64_t, std::unique_ptr<FunctionCode>> functions_;  // by start
  // Per module (by its load base): .eh_frame FDE ranges, read once when needed.
  std::map<uint64_t, std::vector<FunctionBounds>> eh_frames_;
  std::unordered_map<uint64_t, DecodeFailure> no_function_;  // ip -> why, for IPs outside any usable function
};

}  // namespace ccprof::profiler
