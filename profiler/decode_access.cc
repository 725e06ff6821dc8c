#include "profiler/decode_access.h"

#include <Zydis/Zydis.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>

#include "profiler/dwarf_registers.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

int dwarf_index(ZydisRegister wide) {
  switch (wide) {
    case ZYDIS_REGISTER_RAX: return kRax;
    case ZYDIS_REGISTER_RDX: return kRdx;
    case ZYDIS_REGISTER_RCX: return kRcx;
    case ZYDIS_REGISTER_RBX: return kRbx;
    case ZYDIS_REGISTER_RSI: return kRsi;
    case ZYDIS_REGISTER_RDI: return kRdi;
    case ZYDIS_REGISTER_RBP: return kRbp;
    case ZYDIS_REGISTER_RSP: return kRsp;
    case ZYDIS_REGISTER_R8: return kR8;
    case ZYDIS_REGISTER_R9: return kR9;
    case ZYDIS_REGISTER_R10: return kR10;
    case ZYDIS_REGISTER_R11: return kR11;
    case ZYDIS_REGISTER_R12: return kR12;
    case ZYDIS_REGISTER_R13: return kR13;
    case ZYDIS_REGISTER_R14: return kR14;
    case ZYDIS_REGISTER_R15: return kR15;
    default: return -1;
  }
}

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
    if (const int dw = op.mem.base == ZYDIS_REGISTER_NONE ? -1 : dwarf_index(widest(op.mem.base)); dw >= 0 && !a.fs_relative) {
      a.base_dwarf_reg = dw;
      a.base_value = rc.values[op.mem.base];
    }
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

const char* decode_recovery_name(DecodeRecovery r) {
  switch (r) {
    case DecodeRecovery::kNone: return "none";
    case DecodeRecovery::kLoopFallThrough: return "loop_fall_through";
    case DecodeRecovery::kBaseFromRegister: return "base_from_register";
    case DecodeRecovery::kBaseFromStack: return "base_from_stack";
  }
  return "?";
}

FunctionCode index_function(uint64_t start, std::vector<uint8_t> code) {
  FunctionCode f;
  f.start = start;
  f.code = std::move(code);
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  ZydisDecoderContext ctx;
  size_t pos = 0;
  while (pos < f.code.size()) {
    // Lengths for every instruction, operands only for the jumps (half the decode's cost
    // on a big function, which the drain thread pays while profiling).
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&decoder(), &ctx, f.code.data() + pos, f.code.size() - pos, &in)))
      break;
    f.insn_offsets.push_back(static_cast<uint32_t>(pos));
    if ((in.meta.category == ZYDIS_CATEGORY_COND_BR || in.meta.category == ZYDIS_CATEGORY_UNCOND_BR) &&
        ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&decoder(), &ctx, &in, ops, in.operand_count_visible))) {
      for (int i = 0; i < in.operand_count_visible; ++i) {
        if (ops[i].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || !ops[i].imm.is_relative) continue;
        ZyanU64 t = 0;
        const uint64_t src = start + pos;
        if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &ops[i], src, &t)) && t >= start &&
            t < start + f.code.size()) {
          f.jumps_to[t].push_back(src);
          if (t <= src) f.back_edges.emplace_back(src, t);
        }
      }
    }
    pos += in.length;
  }
  f.complete = pos == f.code.size();
  return f;
}

namespace {

// Deepest chain of definitions followed when recovering a register (each step is
// one instruction of the basic block), and the longest block walked back.
constexpr int kMaxRecoveryDepth = 12;
constexpr int kMaxBlockInsns = 64;


struct Insn {
  uint64_t addr = 0;
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

// Values of general registers before an instruction of one basic block, recovered
// from the registers after its last instruction (the sample) by following each
// register's definition backwards. Only definitions whose result is exact are
// followed; anything else fails, and the sample stays dropped.
class BlockDataFlow {
 public:
  BlockDataFlow(std::vector<Insn> insns, const UserRegs& regs, const std::vector<StackWindow>* stack)
      : insns_(std::move(insns)), regs_(regs), stack_(stack) {}

  // The 64-bit value of `reg` (a widest register) before instruction k.
  std::optional<uint64_t> value_before(ZydisRegister reg, int k, int depth) {
    const int idx = dwarf_index(reg);
    if (idx < 0 || depth > kMaxRecoveryDepth) return std::nullopt;
    if (!written_in(reg, k, last())) return regs_[idx];
    for (int j = k - 1; j >= 0; --j)
      if (writes(j, reg)) return eval_def(j, reg, depth + 1);
    return std::nullopt;  // defined before the block and changed since
  }

  // The address a memory operand of instruction k refers to.
  std::optional<uint64_t> address(int k, const ZydisDecodedOperand& op, int depth) {
    if (op.mem.segment == ZYDIS_REGISTER_FS || op.mem.segment == ZYDIS_REGISTER_GS) return std::nullopt;
    uint64_t a = static_cast<uint64_t>(op.mem.disp.value);
    if (op.mem.base == ZYDIS_REGISTER_RIP) {
      a += insns_[k].addr + insns_[k].in.length;
    } else if (op.mem.base != ZYDIS_REGISTER_NONE) {
      auto b = value_before(widest(op.mem.base), k, depth);
      if (!b) return std::nullopt;
      a += *b;
    }
    if (op.mem.index != ZYDIS_REGISTER_NONE) {
      auto i = value_before(widest(op.mem.index), k, depth);
      if (!i) return std::nullopt;
      a += *i * op.mem.scale;
    }
    return a;
  }

  bool used_stack() const { return used_stack_; }
  const std::vector<std::pair<uint64_t, uint32_t>>& stack_reads() const { return stack_reads_; }
  int last() const { return static_cast<int>(insns_.size()) - 1; }

 private:
  bool writes(int i, ZydisRegister reg) const {
    const Insn& x = insns_[i];
    for (int o = 0; o < x.in.operand_count; ++o)
      if (x.ops[o].type == ZYDIS_OPERAND_TYPE_REGISTER && (x.ops[o].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
          widest(x.ops[o].reg.value) == reg)
        return true;
    return false;
  }
  bool written_in(ZydisRegister reg, int from, int to) const {
    for (int i = from; i <= to; ++i)
      if (writes(i, reg)) return true;
    return false;
  }

  // The value instruction j wrote into `reg`.
  std::optional<uint64_t> eval_def(int j, ZydisRegister reg, int depth) {
    const Insn& x = insns_[j];
    const ZydisDecodedOperand& dst = x.ops[0];
    if (x.in.operand_count_visible < 1 || dst.type != ZYDIS_OPERAND_TYPE_REGISTER || widest(dst.reg.value) != reg)
      return eval_implicit(j, reg, depth);
    const uint32_t dbits = dst.size;
    if (dbits != 64 && dbits != 32) return std::nullopt;  // 8/16-bit writes merge with the old value
    auto fit = [dbits](uint64_t v) { return dbits == 32 ? (v & 0xffffffffu) : v; };  // 32-bit writes zero-extend
    const ZydisDecodedOperand* src = x.in.operand_count_visible > 1 ? &x.ops[1] : nullptr;
    switch (x.in.mnemonic) {
      case ZYDIS_MNEMONIC_MOV:
      case ZYDIS_MNEMONIC_MOVZX:
      case ZYDIS_MNEMONIC_MOVSXD:
      case ZYDIS_MNEMONIC_MOVSX: {
        if (!src) return std::nullopt;
        std::optional<uint64_t> v;
        if (src->type == ZYDIS_OPERAND_TYPE_REGISTER) {
          v = value_before(widest(src->reg.value), j, depth);
          if (v && src->size < 64) {
            const bool high8 = src->reg.value == ZYDIS_REGISTER_AH || src->reg.value == ZYDIS_REGISTER_BH ||
                               src->reg.value == ZYDIS_REGISTER_CH || src->reg.value == ZYDIS_REGISTER_DH;
            if (high8) return std::nullopt;
          }
        } else if (src->type == ZYDIS_OPERAND_TYPE_MEMORY && src->mem.type == ZYDIS_MEMOP_TYPE_MEM) {
          auto a = address(j, *src, depth);
          if (!a) return std::nullopt;
          v = read_stack(j, *a, src->size / 8, depth);
        } else if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
          v = src->imm.value.u;
        }
        if (!v) return std::nullopt;
        uint64_t value = *v;
        const uint32_t sbits = src->size;
        if (sbits < 64) {
          const uint64_t mask = (uint64_t{1} << sbits) - 1;
          value &= mask;
          const bool sign = x.in.mnemonic == ZYDIS_MNEMONIC_MOVSXD || x.in.mnemonic == ZYDIS_MNEMONIC_MOVSX ||
                            (x.in.mnemonic == ZYDIS_MNEMONIC_MOV && src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE);
          if (sign && (value >> (sbits - 1)) & 1) value |= ~mask;
        }
        return fit(value);
      }
      case ZYDIS_MNEMONIC_LEA: {
        if (!src) return std::nullopt;
        auto a = address(j, *src, depth);
        if (!a) return std::nullopt;
        return fit(*a);
      }
      case ZYDIS_MNEMONIC_ADD:
      case ZYDIS_MNEMONIC_SUB:
      case ZYDIS_MNEMONIC_SHL: {
        if (!src) return std::nullopt;
        auto a = value_before(reg, j, depth);
        std::optional<uint64_t> b;
        if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) b = src->imm.value.u;
        else if (src->type == ZYDIS_OPERAND_TYPE_REGISTER && src->size == dbits)
          b = value_before(widest(src->reg.value), j, depth);
        if (!a || !b) return std::nullopt;
        if (x.in.mnemonic == ZYDIS_MNEMONIC_ADD) return fit(*a + *b);
        if (x.in.mnemonic == ZYDIS_MNEMONIC_SUB) return fit(*a - *b);
        if (*b >= dbits) return std::nullopt;
        return fit(*a << *b);
      }
      default:
        return std::nullopt;
    }
  }

  // Instructions that write a register not named as their first operand.
  std::optional<uint64_t> eval_implicit(int j, ZydisRegister reg, int depth) {
    const Insn& x = insns_[j];
    if (x.in.mnemonic == ZYDIS_MNEMONIC_CDQE && reg == ZYDIS_REGISTER_RAX) {  // cltq: rax = sext(eax)
      auto v = value_before(ZYDIS_REGISTER_RAX, j, depth);
      if (!v) return std::nullopt;
      return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(*v)));
    }
    return std::nullopt;
  }

  // `size` bytes at `addr` as they were when instruction j read them: from the
  // sample's stack window, when no later instruction of the block may have stored
  // to them.
  std::optional<uint64_t> read_stack(int j, uint64_t addr, uint32_t size, int depth) {
    if (!stack_ || size == 0 || size > 8) return std::nullopt;
    const StackWindow* win = nullptr;
    for (const auto& w : *stack_)
      if (addr >= w.addr && addr + size <= w.addr + w.bytes.size()) win = &w;
    if (!win) return std::nullopt;
    for (int i = j + 1; i <= last(); ++i) {
      const Insn& x = insns_[i];
      for (int o = 0; o < x.in.operand_count; ++o) {
        const ZydisDecodedOperand& op = x.ops[o];
        if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || !(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) continue;
        // push, string stores: where they write is not worth modelling here.
        if (op.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN || op.mem.type != ZYDIS_MEMOP_TYPE_MEM)
          return std::nullopt;
        auto w = address(i, op, depth);
        if (!w) return std::nullopt;
        if (*w < addr + size && addr < *w + op.size / 8) return std::nullopt;
      }
    }
    uint64_t v = 0;
    memcpy(&v, win->bytes.data() + (addr - win->addr), size);
    used_stack_ = true;
    stack_reads_.emplace_back(addr, size);
    return v;
  }

  std::vector<Insn> insns_;
  const UserRegs& regs_;
  const std::vector<StackWindow>* stack_;
  bool used_stack_ = false;
  std::vector<std::pair<uint64_t, uint32_t>> stack_reads_;
};

bool decode_at(const FunctionCode& f, uint32_t off, Insn& x) {
  x.addr = f.start + off;
  return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder(), f.code.data() + off, f.code.size() - off, &x.in, x.ops));
}

// The previous instruction (index `prev` in f.insn_offsets) overwrote its base or
// index register: recover their values before it ran from its basic block.
DecodeResult recover_overwritten_base(const FunctionCode& f, size_t prev, const UserRegs& regs, uint64_t fsbase,
                                      const std::vector<StackWindow>* stack) {
  DecodeResult fail;
  fail.failure = DecodeFailure::kBaseOverwritten;
  // The block: back from prev to a jump target or the instruction after a branch.
  size_t first = prev;
  while (first > 0 && prev - first < kMaxBlockInsns && !f.jumps_to.count(f.start + f.insn_offsets[first])) {
    Insn before;
    if (!decode_at(f, f.insn_offsets[first - 1], before) || is_branch(before.in)) break;
    --first;
  }
  std::vector<Insn> insns(prev - first + 1);
  for (size_t i = first; i <= prev; ++i)
    if (!decode_at(f, f.insn_offsets[i], insns[i - first])) return fail;
  const Insn target = insns.back();
  BlockDataFlow flow(std::move(insns), regs, stack);
  const int k = flow.last();
  for (int i = 0; i < target.in.operand_count; ++i) {
    const ZydisDecodedOperand& op = target.ops[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.type != ZYDIS_MEMOP_TYPE_MEM ||
        op.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN)
      continue;
    UserRegs before = regs;
    for (ZydisRegister r : {op.mem.base, op.mem.index}) {
      if (r == ZYDIS_REGISTER_NONE || r == ZYDIS_REGISTER_RIP) continue;
      const ZydisRegister w = widest(r);
      auto v = flow.value_before(w, k, 0);
      if (!v || dwarf_index(w) < 0) return fail;
      before[dwarf_index(w)] = *v;
    }
    DecodeResult r = access_of(target.in, target.ops, target.addr, before, fsbase, false);
    if (r.access)
      r.recovery = flow.used_stack() ? DecodeRecovery::kBaseFromStack : DecodeRecovery::kBaseFromRegister;
    r.stack_reads = flow.stack_reads();
    return r;
  }
  return fail;
}

// Whether the instruction before `ip` ran although `ip` is a jump target: `ip` and
// that instruction lie in one loop (a back edge from at or after `ip` to at or
// before it), and every jump to `ip` comes from outside that loop, so it only
// enters the loop (the rotated loop's `jmp cond`); on every later iteration the
// body falls through into `ip`.
// The first instruction of the basic block that holds `addr` (walking back at most
// kMaxBlockInsns instructions; 0 when the walk cannot say).
uint64_t block_start(const FunctionCode& f, uint64_t addr) {
  auto it = std::lower_bound(f.insn_offsets.begin(), f.insn_offsets.end(), static_cast<uint32_t>(addr - f.start));
  if (it == f.insn_offsets.end() || f.start + *it != addr) return 0;
  size_t i = static_cast<size_t>(it - f.insn_offsets.begin());
  for (int n = 0; n < kMaxBlockInsns; ++n) {
    const uint64_t a = f.start + f.insn_offsets[i];
    if (i == 0 || f.jumps_to.count(a)) return a;
    Insn before;
    if (!decode_at(f, f.insn_offsets[i - 1], before)) return 0;
    if (is_branch(before.in)) return a;
    --i;
  }
  return 0;
}

bool loop_falls_through(const FunctionCode& f, uint64_t ip, uint64_t prev_addr) {
  Insn p;
  if (!decode_at(f, static_cast<uint32_t>(prev_addr - f.start), p)) return false;
  if (p.in.meta.category == ZYDIS_CATEGORY_UNCOND_BR || p.in.meta.category == ZYDIS_CATEGORY_RET) return false;
  auto sources = f.jumps_to.find(ip);
  if (sources == f.jumps_to.end()) return true;
  for (const auto& [j, b] : f.back_edges) {
    if (!(b <= prev_addr && j >= ip)) continue;
    bool only_enter = true;
    for (uint64_t s : sources->second) {
      if (s >= b && s <= j) only_enter = false;
      // A block placed outside the loop's address range but entered from inside it
      // (an out-of-line path of the body) is part of the loop too.
      const uint64_t from = block_start(f, s);
      if (from == 0) {
        only_enter = false;
      } else if (auto in = f.jumps_to.find(from); in != f.jumps_to.end()) {
        for (uint64_t t : in->second)
          if (t >= b && t <= j) only_enter = false;
      }
    }
    if (only_enter) return true;
  }
  return false;
}

}  // namespace

namespace {

// Instructions looked at after a load for the store that completes it.
constexpr size_t kMaxStorePairDistance = 8;

// The memory operand an instruction accesses (not lea's address computation), or null.
const ZydisDecodedOperand* memory_operand(const ZydisDecodedInstruction& in, const ZydisDecodedOperand* ops) {
  for (int o = 0; o < in.operand_count; ++o)
    if (ops[o].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[o].mem.type == ZYDIS_MEMOP_TYPE_MEM) return &ops[o];
  return nullptr;
}

bool writes_register(const ZydisDecodedInstruction& in, const ZydisDecodedOperand* ops, ZydisRegister wide) {
  if (wide == ZYDIS_REGISTER_NONE) return false;
  for (int o = 0; o < in.operand_count; ++o)
    if (ops[o].type == ZYDIS_OPERAND_TYPE_REGISTER && (ops[o].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
        widest(ops[o].reg.value) == wide)
      return true;
  return false;
}

}  // namespace

bool store_follows_load(const FunctionCode& f, size_t load) {
  if (load >= f.insn_offsets.size()) return false;
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  const auto decode_at = [&](size_t k) {
    const uint32_t at = f.insn_offsets[k];
    return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder(), f.code.data() + at, f.code.size() - at, &in, ops));
  };
  if (!decode_at(load)) return false;
  const ZydisDecodedOperand* m = memory_operand(in, ops);
  if (!m || !(m->actions & ZYDIS_OPERAND_ACTION_MASK_READ) || m->mem.base == ZYDIS_REGISTER_RIP) return false;
  const ZydisDecodedOperand loaded = *m;
  const ZydisRegister base = loaded.mem.base == ZYDIS_REGISTER_NONE ? ZYDIS_REGISTER_NONE : widest(loaded.mem.base);
  const ZydisRegister index = loaded.mem.index == ZYDIS_REGISTER_NONE ? ZYDIS_REGISTER_NONE : widest(loaded.mem.index);
  // Every path from the load (both ways at a conditional branch: the compiler hoists the
  // load above a test whose two arms each store the result) must reach the store within
  // kMaxStorePairDistance instructions, with the address unchanged.
  int budget = 4 * kMaxStorePairDistance;  // instructions decoded in all
  const auto index_of = [&f](uint64_t addr) -> std::optional<size_t> {
    if (addr < f.start) return std::nullopt;
    auto it = std::lower_bound(f.insn_offsets.begin(), f.insn_offsets.end(), static_cast<uint32_t>(addr - f.start));
    if (it == f.insn_offsets.end() || *it != addr - f.start) return std::nullopt;
    return static_cast<size_t>(it - f.insn_offsets.begin());
  };
  const std::function<bool(size_t, size_t)> stores_on_every_path = [&](size_t k, size_t steps) -> bool {
    for (; steps < kMaxStorePairDistance; ++steps) {
      if (k >= f.insn_offsets.size() || --budget < 0 || !decode_at(k)) return false;
      const ZydisDecodedOperand* w = memory_operand(in, ops);
      if (w && (w->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) && w->size == loaded.size &&
          w->mem.segment == loaded.mem.segment && w->mem.base == loaded.mem.base &&
          w->mem.index == loaded.mem.index && w->mem.scale == loaded.mem.scale &&
          w->mem.disp.value == loaded.mem.disp.value)
        return true;
      if (writes_register(in, ops, base) || writes_register(in, ops, index)) return false;
      const ZydisInstructionCategory cat = in.meta.category;
      if (cat == ZYDIS_CATEGORY_CALL || cat == ZYDIS_CATEGORY_RET || cat == ZYDIS_CATEGORY_SYSTEM ||
          cat == ZYDIS_CATEGORY_INTERRUPT)
        return false;
      if (cat == ZYDIS_CATEGORY_COND_BR || cat == ZYDIS_CATEGORY_UNCOND_BR) {
        // A direct jump inside the function; anything else leaves what can be read here.
        ZyanU64 target = 0;
        if (ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || !ops[0].imm.is_relative ||
            !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &ops[0], f.start + f.insn_offsets[k], &target)))
          return false;
        const std::optional<size_t> t = index_of(target);
        if (!t) return false;
        if (cat == ZYDIS_CATEGORY_COND_BR && !stores_on_every_path(k + 1, steps + 1)) return false;
        k = *t;
        continue;
      }
      ++k;
    }
    return false;
  };
  return stores_on_every_path(load + 1, 0);
}

DecodeResult decode_in_function(const FunctionCode& f, uint64_t ip, const UserRegs& regs, uint64_t fsbase,
                                const std::vector<StackWindow>* stack) {
  DecodeResult r;
  r.eh_frame_bounds = f.from_eh_frame;
  if (ip <= f.start) {
    r.failure = DecodeFailure::kFunctionStart;
    return r;
  }
  if (ip > f.start + f.code.size()) {
    r.failure = DecodeFailure::kNoCode;
    return r;
  }
  const uint32_t rel = static_cast<uint32_t>(ip - f.start);
  auto it = std::lower_bound(f.insn_offsets.begin(), f.insn_offsets.end(), rel);
  // The IP must be an instruction boundary the decode reached (or the function's end).
  const bool at_boundary = (it != f.insn_offsets.end() && *it == rel) || (rel == f.code.size() && f.complete);
  if (!at_boundary || it == f.insn_offsets.begin()) {
    r.failure = DecodeFailure::kBadDecode;
    return r;
  }
  const size_t prev = static_cast<size_t>(it - f.insn_offsets.begin()) - 1;
  const uint64_t prev_addr = f.start + f.insn_offsets[prev];
  DecodeRecovery via = DecodeRecovery::kNone;
  if (f.jumps_to.count(ip)) {
    if (!loop_falls_through(f, ip, prev_addr)) {
      r.failure = DecodeFailure::kBranchTarget;
      return r;
    }
    via = DecodeRecovery::kLoopFallThrough;
  }
  DecodeResult d = decode_instruction_access(f.code.data() + f.insn_offsets[prev], rel - f.insn_offsets[prev],
                                             prev_addr, regs, fsbase, true);
  if (d.failure == DecodeFailure::kBaseOverwritten) d = recover_overwritten_base(f, prev, regs, fsbase, stack);
  if (d.access && via != DecodeRecovery::kNone && d.recovery == DecodeRecovery::kNone) d.recovery = via;
  // A load the same straight-line code stores back to (`mov (%rax),%rdx; add $1,%rdx;
  // mov %rdx,(%rax)`) is one read-modify-write of the word that the compiler split. The
  // timer lands after the load that waited for the line far more often than after the
  // store that the store buffer absorbs (mapreduce -O2: 1 store sample in ~300 of its
  // line), so the load's sample is the evidence that the thread writes the word.
  if (d.access && d.access->kind == AccessKind::kRead) {
    auto [pair, fresh] = f.store_follows.try_emplace(prev, false);
    if (fresh) pair->second = store_follows_load(f, prev);
    if (pair->second) d.access->kind = AccessKind::kRmw;
  }
  d.eh_frame_bounds = f.from_eh_frame;
  return d;
}

DecodeResult decode_previous_access(const std::vector<uint8_t>& code, uint64_t func_start, uint64_t ip,
                                    const UserRegs& regs, uint64_t fsbase, const std::vector<StackWindow>* stack) {
  DecodeResult r;
  if (ip <= func_start) {
    r.failure = DecodeFailure::kFunctionStart;
    return r;
  }
  if (ip > func_start + code.size()) {
    r.failure = DecodeFailure::kNoCode;
    return r;
  }
  return decode_in_function(index_function(func_start, code), ip, regs, fsbase, stack);
}

AccessDecoder::AccessDecoder(Symbolizer& sym) : sym_(sym) {}
AccessDecoder::~AccessDecoder() = default;

bool AccessDecoder::eh_frame_bounds(uint64_t ip, uint64_t* start, uint64_t* size) {
  Dwfl* dwfl = sym_.dwfl();
  Dwfl_Module* mod = dwfl ? dwfl_addrmodule(dwfl, ip) : nullptr;
  if (!mod) return false;
  Dwarf_Addr low = 0;
  dwfl_module_info(mod, nullptr, &low, nullptr, nullptr, nullptr, nullptr, nullptr);
  auto it = eh_frames_.find(low);
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(mod, &bias);
  if (it == eh_frames_.end()) it = eh_frames_.emplace(low, read_eh_frame_functions(elf)).first;
  const FunctionBounds* b = find_function_bounds(it->second, ip - bias);
  if (!b || b->end - b->start > kMaxFunctionBytes) return false;
  *start = b->start + bias;
  *size = b->end - b->start;
  return true;
}

const FunctionCode* AccessDecoder::function_at(uint64_t ip, DecodeFailure* why) {
  auto it = functions_.upper_bound(ip);
  if (it != functions_.begin()) {
    --it;
    const FunctionCode& f = *it->second;
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
  const char* name = mod ? sym_.symbol(mod, ip, &off, &s) : nullptr;
  uint64_t start = 0, size = 0;
  bool from_eh_frame = false;
  // A sample at the very end of a function (ip == start + size) happens after its
  // last instruction ran (a tail call): addrinfo then names the next symbol.
  if (name && GELF_ST_TYPE(s.st_info) == STT_FUNC && s.st_size != 0 && s.st_size <= kMaxFunctionBytes) {
    start = ip - off;
    size = s.st_size;
  } else if (eh_frame_bounds(ip, &start, &size)) {
    from_eh_frame = true;  // stripped: no symbol, but the unwind table knows the function
  } else {
    const MemoryMap* m = sym_.map_of(ip);
    *why = (!m || m->path.empty() || m->path[0] != '/') ? DecodeFailure::kNoCode : DecodeFailure::kNoFunction;
    no_function_.emplace(ip, *why);
    return nullptr;
  }
  std::vector<uint8_t> code;
  if (!sym_.read_file_bytes(start, size, code) || code.size() != size) {
    *why = DecodeFailure::kNoCode;
    no_function_.emplace(ip, *why);
    return nullptr;
  }
  auto f = std::make_unique<FunctionCode>(index_function(start, std::move(code)));
  f->from_eh_frame = from_eh_frame;
  const FunctionCode* out = f.get();
  functions_[f->start] = std::move(f);
  return out;
}

DecodeResult AccessDecoder::decode(uint64_t ip, const UserRegs& regs, uint64_t fsbase,
                                   const std::vector<StackWindow>* stack) {
  DecodeResult r;
  const FunctionCode* f = function_at(ip, &r.failure);
  if (!f) return r;
  return decode_in_function(*f, ip, regs, fsbase, stack);
}

}  // namespace ccprof::profiler
