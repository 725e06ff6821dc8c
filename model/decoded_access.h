#pragma once
// What the decoder (profiler/decode_access.h) makes of one memory sample in decode mode:
// the access of the instruction before the sampled IP, or why there is none. Defined in
// the model because a live profile carries it from the agent's drain thread, which
// decodes every sample to trim its stack windows (model/stack_frames.h), to the analysis
// after the window (MemorySample::decoded), so that the samples are not decoded twice.
#include <cstdint>
#include <optional>

namespace ccprof::model {

enum class AccessKind : uint8_t {
  kRead,
  kWrite,
  kRmw,        // read-modify-write without a lock prefix (add [mem], 1)
  kLockedRmw,  // lock add/xadd/inc, xchg with memory
  kCas,        // lock cmpxchg / cmpxchg8b / cmpxchg16b
};

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

// How an address was obtained beyond the plain previous-instruction rule (counted in
// findings.json so the yield of each step can be measured).
enum class DecodeRecovery : uint8_t {
  kNone,
  kLoopFallThrough,   // the IP was a loop-entry jump target; the fall-through ran
  kBaseFromRegister,  // overwritten base/index recovered from registers of the block
  kBaseFromStack,     // ... with a load from a stack slot in the sample's stack window
};

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

// One sample's decode: an access, or the failure.
struct SampleDecode {
  std::optional<DecodedAccess> access;
  DecodeFailure failure = DecodeFailure::kNone;
  DecodeRecovery recovery = DecodeRecovery::kNone;  // with an access
  bool eh_frame_bounds = false;  // the function's bounds came from .eh_frame (no symbol)
};

}  // namespace ccprof::model
