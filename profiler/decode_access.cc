#include "profiler/decode_access.h"

#include <Zydis/Zydis.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <set>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {
namespace {

// Longest function we decode linearly; beyond it the linear decode costs more than
// the sample is worth (and such code is usually generated, not a hot loop).
constexpr uint64_t kMaxFunctionBytes = 1 << 20;

const ZydisDecoder& decoder() {
  static const ZydisDecoder d = [] {
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    return dec;
  }();
  return d;
}

void fill_context(ZydisRegisterContext& rc, const UserRegs& r, uint64_t ip) {
  struct Map { ZydisRegister q, d, w; int i; };
  static const Map kMap[] = {
      {ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_EAX, ZYDIS_REGISTER_AX, kRax},
      {ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_EDX, ZYDIS_REGISTER_DX, kRdx},
      {ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_ECX, ZYDIS_REGISTER_CX, kRcx},
      {ZYDIS_REGISTER_RBX, ZYDIS_REGISTER_EBX, ZYDIS_REGISTER_BX, kRbx},
      {ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_ESI, ZYDIS_REGISTER_SI, kRsi},
      {ZYDIS_REGISTER_RDI, ZYDIS_REGISTER_EDI, ZYDIS_REGISTER_DI, kRdi},
      {ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_EBP, ZYDIS_REGISTER_BP, kRbp},
      {ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_ESP, ZYDIS_REGISTER_SP, kRsp},
      {ZYDIS_REGISTER_R8, ZYDIS_REGISTER_R8D, ZYDIS_REGISTER_R8W, kR8},
      {ZYDIS_REGISTER_R9, ZYDIS_REGISTER_R9D, ZYDIS_REGISTER_R9W, kR9},
      {ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R10D, ZYDIS_REGISTER_R10W, kR10},
      {ZYDIS_REGISTER_R11, ZYDIS_REGISTER_R11D, ZYDIS_REGISTER_R11W, kR11},
      {ZYDIS_REGISTER_R12, ZYDIS_REGISTER_R12D, ZYDIS_REGISTER_R12W, kR12},
      {ZYDIS_REGISTER_R13, ZYDIS_REGISTER_R13D, ZYDIS_REGISTER_R13W, kR13},
      {ZYDIS_REGISTER_R14, ZYDIS_REGISTER_R14D, ZYDIS_REGISTER_R14W, kR14},
      {ZYDIS_REGISTER_R15, ZYDIS_REGISTER_R15D, ZYDIS_REGISTER_R15W, kR15},
  };
  for (auto& v : rc.values) v = 0;
  for (const auto& m : kMap) {
    rc.values[m.q] = r[m.i];
    rc.values[m.d] = static_cast<uint32_t>(r[m.i]);
    rc.values[m.w] = static_cast<uint16_t>(r[m.i]);
  }
  rc.values[ZYDIS_REGISTER_RIP] = ip;
}

ZydisRegister widest(ZydisRegister r) { return ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r); }

bool is_branch(const ZydisDecodedInstruction& in) {
  switch (in.meta.category) {
    case ZYDIS_CATEGORY_COND_BR:
    case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_CALL:
    case ZYDIS_CATEGORY_RET:
    case ZYDIS_CATEGORY_SYSCALL:
    case ZYDIS_CATEGORY_INTERRUPT:
      return true;
    default:
      return false;
  }
}

DecodeResult access_of(const ZydisDecodedInstruction& in, const ZydisDecodedOperand* ops, uint64_t insn_addr,
                       const UserRegs& regs, uint64_t fsbase, bool regs_after) {
  DecodeResult r;
  if (is_branch(in)) {
    r.failure = DecodeFailure::kPreviousIsBranch;
    return r;
  }
  ZydisRegisterContext rc;
  fill_context(rc, regs, insn_addr);
  for (int i = 0; i < in.operand_count; ++i) {
    const ZydisDecodedOperand& op = ops[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.type != ZYDIS_MEMOP_TYPE_MEM) continue;
    // push/pop/call/movs slots: implicit stack or string accesses, not the program's data.
    if (op.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN) continue;
    if (op.mem.segment == ZYDIS_REGISTER_GS) {
      r.failure = DecodeFailure::kUnsupportedSegment;
      return r;
    }
    if (regs_after) {
      const ZydisRegister base = op.mem.base == ZYDIS_REGISTER_NONE ? ZYDIS_REGISTER_NONE : widest(op.mem.base);
      const ZydisRegister index = op.mem.index == ZYDIS_REGISTER_NONE ? ZYDIS_REGISTER_NONE : widest(op.mem.index);
      for (int j = 0; j < in.operand_count; ++j) {
        if (ops[j].type != ZYDIS_OPERAND_TYPE_REGISTER || !(ops[j].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) continue;
        ZydisRegister w = widest(ops[j].reg.value);
        if ((base != ZYDIS_REGISTER_NONE && base != ZYDIS_REGISTER_RIP && w == base) ||
            (index != ZYDIS_REGISTER_NONE && w == index)) {
          r.failure = DecodeFailure::kBaseOverwritten;
          return r;
        }
      }
    }
    ZyanU64 addr = 0;
    if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddressEx(&in, &op, insn_addr, &rc, &addr))) continue;
    DecodedAccess a;
    a.insn_addr = insn_addr;
    a.fs_relative = op.mem.segment == ZYDIS_REGISTER_FS;
    if (a.fs_relative) addr += fsbase;
    a.data_addr = addr;
    a.size = op.size / 8;
    a.rip_relative = op.mem.base == ZYDIS_REGISTER_RIP;
    a.stack_relative = op.mem.base == ZYDIS_REGISTER_RSP || op.mem.base == ZYDIS_REGISTER_ESP;
    const bool rd = op.actions & ZYDIS_OPERAND_ACTION_MASK_READ;
    const bool wr = op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
    // xchg with a memory operand is locked without the prefix.
    const bool locked = (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) || in.mnemonic == ZYDIS_MNEMONIC_XCHG;
    const bool cas = in.mnemonic == ZYDIS_MNEMONIC_CMPXCHG || in.mnemonic == ZYDIS_MNEMONIC_CMPXCHG8B ||
                     in.mnemonic == ZYDIS_MNEMONIC_CMPXCHG16B;
    if (locked && cas) a.kind = AccessKind::kCas;
    else if (locked && wr) a.kind = AccessKind::kLockedRmw;
    else if (rd && wr) a.kind = AccessKind::kRmw;
    else if (wr) a.kind = AccessKind::kWrite;
    else a.kind = AccessKind::kRead;
    r.access = a;
    return r;
  }
  r.failure = DecodeFailure::kNoMemoryOperand;
  return r;
}

}  // namespace

const char* access_kind_name(AccessKind k) {
  switch (k) {
    case AccessKind::kRead: return "read";
    case AccessKind::kWrite: return "write";
    case AccessKind::kRmw: return "rmw";
    case AccessKind::kLockedRmw: return "locked-rmw";
    case AccessKind::kCas: return "cas";
  }
  return "?";
}

const char* decode_failure_name(DecodeFailure f) {
  switch (f) {
    case DecodeFailure::kNone: return "none";
    case DecodeFailure::kNoCode: return "no_code";
    case DecodeFailure::kNoFunction: return "no_function";
    case DecodeFailure::kFunctionStart: return "at_function_start";
    case DecodeFailure::kBadDecode: return "bad_decode";
    case DecodeFailure::kBranchTarget: return "branch_target";
    case DecodeFailure::kPreviousIsBranch: return "previous_is_branch";
    case DecodeFailure::kNoMemoryOperand: return "no_memory_operand";
    case DecodeFailure::kBaseOverwritten: return "base_overwritten";
    case DecodeFailure::kUnsupportedSegment: return "unsupported_segment";
  }
  return "?";
}

DecodeResult decode_instruction_access(const uint8_t* insn, size_t len, uint64_t insn_addr, const UserRegs& regs,
                                       uint64_t fsbase, bool regs_after) {
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder(), insn, len, &in, ops))) {
    DecodeResult r;
    r.failure = DecodeFailure::kBadDecode;
    return r;
  }
  return access_of(in, ops, insn_addr, regs, fsbase, regs_after);
}

// One function's instruction boundaries and jump targets, decoded once.
struct AccessDecoder::Function {
  uint64_t start = 0;
  std::vector<uint8_t> code;
  std::vector<uint32_t> insn_offsets;  // sorted
  std::set<uint64_t> branch_targets;   // absolute addresses inside the function
  bool complete = false;               // the decode covered the whole code
};

namespace {

void index_function(const std::vector<uint8_t>& code, uint64_t start, std::vector<uint32_t>& offsets,
                    std::set<uint64_t>& targets, bool& complete) {
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  size_t pos = 0;
  while (pos < code.size()) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder(), code.data() + pos, code.size() - pos, &in, ops))) break;
    offsets.push_back(static_cast<uint32_t>(pos));
    if (in.meta.category == ZYDIS_CATEGORY_COND_BR || in.meta.category == ZYDIS_CATEGORY_UNCOND_BR) {
      for (int i = 0; i < in.operand_count_visible; ++i) {
        if (ops[i].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || !ops[i].imm.is_relative) continue;
        ZyanU64 t = 0;
        if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &ops[i], start + pos, &t)) && t >= start &&
            t < start + code.size())
          targets.insert(t);
      }
    }
    pos += in.length;
  }
  complete = pos == code.size();
}

}  // namespace

DecodeResult decode_previous_access(const std::vector<uint8_t>& code, uint64_t func_start, uint64_t ip,
                                    const UserRegs& regs, uint64_t fsbase) {
  DecodeResult r;
  if (ip <= func_start) {
    r.failure = DecodeFailure::kFunctionStart;
    return r;
  }
  if (ip > func_start + code.size()) {
    r.failure = DecodeFailure::kNoCode;
    return r;
  }
  std::vector<uint32_t> offsets;
  std::set<uint64_t> targets;
  bool complete = false;
  std::vector<uint8_t> head(code.begin(), code.begin() + static_cast<long>(ip - func_start));
  index_function(head, func_start, offsets, targets, complete);
  if (!complete || offsets.empty()) {
    r.failure = DecodeFailure::kBadDecode;
    return r;
  }
  // Jumps after the IP may target it too; index the rest of the code for them.
  std::vector<uint32_t> rest_offsets;
  bool rest_complete = false;
  std::vector<uint8_t> tail(code.begin() + static_cast<long>(ip - func_start), code.end());
  std::set<uint64_t> tail_targets;
  index_function(tail, ip, rest_offsets, tail_targets, rest_complete);
  // Tail targets were computed relative to `ip` as start but absolute; keep those in range.
  for (uint64_t t : tail_targets) targets.insert(t);
  if (targets.count(ip)) {
    r.failure = DecodeFailure::kBranchTarget;
    return r;
  }
  uint64_t prev = func_start + offsets.back();
  return decode_instruction_access(code.data() + (prev - func_start), ip - prev, prev, regs, fsbase, true);
}

AccessDecoder::AccessDecoder(Symbolizer& sym) : sym_(sym) {}
AccessDecoder::~AccessDecoder() = default;

const AccessDecoder::Function* AccessDecoder::function_at(uint64_t ip, DecodeFailure* why) {
  auto it = functions_.upper_bound(ip);
  if (it != functions_.begin()) {
    --it;
    const Function& f = *it->second;
    if (ip <= f.start + f.code.size()) return &f;
  }
  auto nf = no_function_.find(ip);
  if (nf != no_function_.end()) {
    *why = nf->second;
    return nullptr;
  }
  Dwfl* dwfl = sym_.dwfl();
  Dwfl_Module* mod = dwfl ? dwfl_addrmodule(dwfl, ip) : nullptr;
  GElf_Off off = 0;
  GElf_Sym s;
  const char* name = mod ? dwfl_module_addrinfo(mod, ip, &off, &s, nullptr, nullptr, nullptr) : nullptr;
  // A sample at the very end of a function (ip == start + size) happens after its
  // last instruction ran (a tail call): addrinfo then names the next symbol.
  if (!name || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_size == 0 || s.st_size > kMaxFunctionBytes) {
    const MemoryMap* m = sym_.map_of(ip);
    *why = (!m || m->path.empty() || m->path[0] != '/') ? DecodeFailure::kNoCode : DecodeFailure::kNoFunction;
    no_function_.emplace(ip, *why);
    return nullptr;
  }
  auto f = std::make_unique<Function>();
  f->start = ip - off;
  if (!sym_.read_file_bytes(f->start, s.st_size, f->code) || f->code.size() != s.st_size) {
    *why = DecodeFailure::kNoCode;
    no_function_.emplace(ip, *why);
    return nullptr;
  }
  index_function(f->code, f->start, f->insn_offsets, f->branch_targets, f->complete);
  const Function* out = f.get();
  functions_[f->start] = std::move(f);
  return out;
}

DecodeResult AccessDecoder::decode(uint64_t ip, const UserRegs& regs, uint64_t fsbase) {
  DecodeResult r;
  const Function* f = function_at(ip, &r.failure);
  if (!f) return r;
  if (ip == f->start) {
    r.failure = DecodeFailure::kFunctionStart;
    return r;
  }
  const uint32_t rel = static_cast<uint32_t>(ip - f->start);
  auto it = std::lower_bound(f->insn_offsets.begin(), f->insn_offsets.end(), rel);
  // The IP must be an instruction boundary the decode reached (or the function's end).
  const bool at_boundary = (it != f->insn_offsets.end() && *it == rel) || (rel == f->code.size() && f->complete);
  if (!at_boundary || it == f->insn_offsets.begin()) {
    r.failure = DecodeFailure::kBadDecode;
    return r;
  }
  if (f->branch_targets.count(ip)) {
    r.failure = DecodeFailure::kBranchTarget;
    return r;
  }
  const uint32_t prev = *(it - 1);
  return decode_instruction_access(f->code.data() + prev, rel - prev, f->start + prev, regs, fsbase, true);
}

}  // namespace ccprof::profiler
