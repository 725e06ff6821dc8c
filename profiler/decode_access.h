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

enum class AccessKind : uint8_t {
  kRead,
  kWrite,
  kRmw,        // read-modify-write without a lock prefix (add [mem], 1)
  kLockedRmw,  // lock add/xadd/inc, xchg with memory
  kCas,        // lock cmpxchg / cmpxchg8b / cmpxchg16b
};
const char* access_kind_name(AccessKind k);  // "read", "write", "rmw", "locked-rmw", "cas"
inline bool is_write(AccessKind k) { return k != AccessKind::kRead; }
inline bool is_locked(AccessKind k) { return k == AccessKind::kLockedRmw || k == AccessKind::kCas; }

// Why a sample yielded no data address. Every reason is reported as a loss.
enum class DecodeFailure : uint8_t {
  kNone,
  kNoCode,             // the code is not file-backed (JIT, deleted file) or unreadable
  kNoFunction,         // no ELF symbol covers the IP (stripped, or code outside functions)
  kFunctionStart,      // the IP is a function's first instruction: a call or jump ran
  kBadDecode,          // the linear decode did not land on the IP
  kBranchTarget,       // the IP is a jump target: the previous instruction may not have run
  kPreviousIsBranch,   // the previous instruction was a call, jump or return
  kNoMemoryOperand,    // the previous instruction accessed no explicit memory
  kBaseOverwritten,    // it overwrote its own base/index register: address unknowable
  kUnsupportedSegment, // gs-relative or similar
};
const char* decode_failure_name(DecodeFailure f);  // "no_code", "branch_target", ...

// How an address was obtained beyond the plain previous-instruction rule (counted in
// findings.json so the yield of each step can be measured).
enum class DecodeRecovery : uint8_t {
  kNone,
  kLoopFallThrough,   // the IP was a loop-entry jump target; the fall-through ran
  kBaseFromRegister,  // overwritten base/index recovered from registers of the block
  kBaseFromStack,     // ... with a load from a stack slot in the sample's stack window
};
const char* decode_recovery_name(DecodeRecovery r);  // "loop_fall_through", ...

struct DecodedAccess {
  uint64_t insn_addr = 0;  // the instruction that made the access
  uint64_t data_addr = 0;
  uint32_t size = 0;       // bytes
  AccessKind kind = AccessKind::kRead;
  bool rip_relative = false;
  bool fs_relative = false;  // a TLS access (fs:...)
  bool stack_relative = false;  // base register rsp or rbp
  // The base register (DWARF number, -1 for none/rip) and its value: for heap data, the
  // variable the register holds at insn_addr names the object (data_naming.h).
  int base_dwarf_reg = -1;
  uint64_t base_value = 0;
};

struct DecodeResult {
  std::optional<DecodedAccess> access;
  DecodeFailure failure = DecodeFailure::kNone;
  DecodeRecovery recovery = DecodeRecovery::kNone;  // with an access
  bool eh_frame_bounds = false;  // the function's bounds came from .eh_frame (no symbol)
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
