#include "profiler/lock_code.h"

#include <Zydis/Zydis.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <map>
#include <vector>

#include "profiler/critical_section.h"
#include "profiler/data_naming.h"
#include "profiler/dwarf_registers.h"

namespace ccprof::profiler {
namespace {

// Larger functions are not decoded: a lock acquisition site is a small function or a
// function that inlined one (count_word_shared: ~1 KiB), and the decode runs per site.
constexpr uint64_t kMaxFunctionBytes = 64 * 1024;

struct Decoded {
  uint64_t ip;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

// Whether the instruction writes the 64-bit register `reg` (or a part of it).
bool writes(const Decoded& d, ZydisRegister reg) {
  for (int k = 0; k < d.insn.operand_count; ++k)
    if (d.ops[k].type == ZYDIS_OPERAND_TYPE_REGISTER && (d.ops[k].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
        ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, d.ops[k].reg.value) == reg)
      return true;
  return false;
}

}  // namespace

bool is_guard_constructor(std::string_view function) {
  if (function.find('~') != std::string_view::npos) return false;
  for (std::string_view g : {"lock_guard", "unique_lock", "scoped_lock", "shared_lock", "MutexLock", "ReaderMutexLock",
                             "WriterMutexLock"}) {
    const std::string member = std::string("::") + std::string(g);
    for (size_t at = function.find(member); at != std::string_view::npos; at = function.find(member, at + 1)) {
      const size_t end = at + member.size();
      if (end != function.size() && function[end] != '(' && function[end] != '<') continue;
      const std::string_view cls = function.substr(0, at);
      const size_t name_at = cls.rfind(g);
      // The class right before: `...lock_guard<...>` or `...MutexLock`.
      if (name_at != std::string_view::npos && (name_at == 0 || cls[name_at - 1] == ':') &&
          (name_at + g.size() == cls.size() || cls[name_at + g.size()] == '<'))
        return true;
    }
  }
  return false;
}

bool read_function_code(Symbolizer& sym, uint64_t pc, uint64_t* start, std::vector<uint8_t>* code) {
  Dwfl_Module* mod = sym.dwfl() ? dwfl_addrmodule(sym.dwfl(), pc) : nullptr;
  GElf_Off off = 0;
  GElf_Sym s{};
  if (!mod || !sym.symbol(mod, pc, &off, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_size == 0 ||
      s.st_size > kMaxFunctionBytes)
    return false;
  *start = pc - off;
  return sym.read_file_bytes(*start, s.st_size, *code) && code->size() == s.st_size;
}

bool for_each_function_instruction(
    Symbolizer& sym, uint64_t pc,
    const std::function<bool(uint64_t ip, const ZydisDecodedInstruction& insn, const ZydisDecodedOperand* ops)>& f,
    bool (*wants_operands)(const ZydisDecodedInstruction& insn)) {
  uint64_t start = 0;
  std::vector<uint8_t> code;
  if (!read_function_code(sym, pc, &start, &code)) return false;
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecoderContext ctx;
  for (size_t at = 0; at < code.size();) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    const bool decoded = ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, &ctx, code.data() + at, code.size() - at, &insn));
    const bool with_operands = decoded && (!wants_operands || wants_operands(insn));
    if (!decoded || (with_operands && !ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&dec, &ctx, &insn, ops, insn.operand_count)))) {
      ++at;  // padding or data between code: resynchronise on the next byte
      continue;
    }
    const uint64_t ip = start + at;
    at += insn.length;
    if (f(ip, insn, with_operands ? ops : nullptr)) break;
  }
  return true;
}

namespace {

// xchg with memory is atomic without a lock prefix.
bool is_atomic_rmw(const ZydisDecodedInstruction& insn) {
  return (insn.attributes & ZYDIS_ATTRIB_HAS_LOCK) || insn.mnemonic == ZYDIS_MNEMONIC_XCHG;
}

}  // namespace

LockExchanges decode_lock_exchanges(Symbolizer& sym, uint64_t pc,
                                    const std::function<bool(const CodeLocation&)>& is_acquisition) {
  LockExchanges out;
  out.decoded = for_each_function_instruction(sym, pc, [&](uint64_t ip, const ZydisDecodedInstruction& insn,
                                                             const ZydisDecodedOperand* ops) {
    if (!is_atomic_rmw(insn)) return false;
    for (int i = 0; i < insn.operand_count_visible; ++i) {
      const ZydisDecodedOperand& op = ops[i];
      if (op.type != ZYDIS_OPERAND_TYPE_MEMORY) continue;
      if (!is_acquisition(sym.code(ip))) break;
      ZyanU64 addr = 0;
      if (op.mem.base == ZYDIS_REGISTER_RIP && op.mem.index == ZYDIS_REGISTER_NONE &&
          op.mem.segment != ZYDIS_REGISTER_FS && op.mem.segment != ZYDIS_REGISTER_GS &&
          ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &op, ip, &addr)))
        out.static_words.insert(addr);
      else
        ++out.computed;
      break;
    }
    return false;
  }, is_atomic_rmw);
  return out;
}

namespace {

// The static address of a RIP-relative memory operand outside TLS, 0 otherwise.
uint64_t static_address(const Decoded& d, const ZydisDecodedOperand& op) {
  ZyanU64 addr = 0;
  if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.base != ZYDIS_REGISTER_RIP || op.mem.index != ZYDIS_REGISTER_NONE ||
      op.mem.segment == ZYDIS_REGISTER_FS || op.mem.segment == ZYDIS_REGISTER_GS ||
      !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d.insn, &op, d.ip, &addr)))
    return 0;
  return addr;
}

// Whether the register `reg` holds zero at instruction `i` of `code`: set by `xor r,r`
// or `mov $0,r` earlier in the same basic block (as laid out).
bool zero_before(const std::vector<Decoded>& code, size_t i, ZydisRegister reg) {
  const ZydisRegister full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg);
  while (i-- > 0) {
    const Decoded& d = code[i];
    const ZydisInstructionCategory cat = d.insn.meta.category;
    if (cat == ZYDIS_CATEGORY_COND_BR || cat == ZYDIS_CATEGORY_UNCOND_BR || cat == ZYDIS_CATEGORY_CALL ||
        cat == ZYDIS_CATEGORY_RET)
      return false;
    if (!writes(d, full)) continue;
    const ZydisDecodedOperand& src = d.ops[1];
    if (d.insn.mnemonic == ZYDIS_MNEMONIC_XOR && src.type == ZYDIS_OPERAND_TYPE_REGISTER &&
        ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, src.reg.value) == full &&
        d.ops[0].reg.value == src.reg.value)
      return true;
    return d.insn.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE && src.imm.value.u == 0;
  }
  return false;
}

}  // namespace

SpinSection spin_lock_section(Symbolizer& sym, uint64_t pc, uint64_t word) {
  SpinSection out;
  std::vector<Decoded> code;
  uint64_t start = 0, end = 0;
  out.decoded = for_each_function_instruction(sym, pc, [&](uint64_t ip, const ZydisDecodedInstruction& insn,
                                                           const ZydisDecodedOperand* ops) {
    Decoded d{.ip = ip, .insn = insn, .ops = {}};
    std::copy(ops, ops + ZYDIS_MAX_OPERAND_COUNT, d.ops);
    code.push_back(d);
    return false;
  });
  if (!out.decoded || code.empty()) return out;
  // The word's operand: its static address, or (word 0) any computed one outside the stack.
  auto is_word = [word](const Decoded& d, const ZydisDecodedOperand& op) {
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY) return false;
    if (word) return static_address(d, op) == word;
    return op.mem.base != ZYDIS_REGISTER_NONE && op.mem.base != ZYDIS_REGISTER_RIP &&
           op.mem.base != ZYDIS_REGISTER_RSP && op.mem.base != ZYDIS_REGISTER_RBP &&
           op.mem.segment != ZYDIS_REGISTER_FS && op.mem.segment != ZYDIS_REGISTER_GS;
  };
  start = code.front().ip;
  end = code.back().ip + code.back().insn.length;
  std::map<uint64_t, size_t> at;  // instruction address -> index
  for (size_t i = 0; i < code.size(); ++i) at[code[i].ip] = i;
  // What each instruction does to the word, and where control goes after it.
  enum Role { kOther, kAcquire, kRelease };
  std::vector<Role> role(code.size(), kOther);
  std::vector<std::vector<size_t>> next(code.size()), prev(code.size());
  for (size_t i = 0; i < code.size(); ++i) {
    const Decoded& d = code[i];
    const bool atomic = (d.insn.attributes & ZYDIS_ATTRIB_HAS_LOCK) || d.insn.mnemonic == ZYDIS_MNEMONIC_XCHG;
    for (int k = 0; k < d.insn.operand_count_visible; ++k) {
      const ZydisDecodedOperand& op = d.ops[k];
      if (!(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) || !is_word(d, op)) continue;
      const bool takes = d.insn.mnemonic == ZYDIS_MNEMONIC_XCHG || d.insn.mnemonic == ZYDIS_MNEMONIC_CMPXCHG ||
                         d.insn.mnemonic == ZYDIS_MNEMONIC_BTS;
      // A computed operand's plain store may be any word's: only exchanges count there.
      if (!word && !(atomic && takes)) break;
      role[i] = kRelease;
      if (atomic && takes) {
        // The value exchanged in: zero is a release (a seq_cst store), anything else takes it.
        const ZydisDecodedOperand& other = d.ops[1 - k];
        const bool zero = d.insn.mnemonic == ZYDIS_MNEMONIC_XCHG && other.type == ZYDIS_OPERAND_TYPE_REGISTER &&
                          zero_before(code, i, other.reg.value);
        if (!zero) role[i] = kAcquire;
      }
      break;
    }
    out.acquisitions += role[i] == kAcquire;
    out.releases += role[i] == kRelease;
    const ZydisInstructionCategory cat = d.insn.meta.category;
    const uint64_t fall = d.ip + d.insn.length;
    ZyanU64 target = 0;
    const bool direct = d.insn.operand_count_visible > 0 && d.ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                        ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d.insn, &d.ops[0], d.ip, &target));
    auto edge = [&](uint64_t to) {
      if (to < start || to >= end) return;  // a tail call or another function's code
      if (auto it = at.find(to); it != at.end()) next[i].push_back(it->second);
    };
    if (cat == ZYDIS_CATEGORY_RET || d.insn.mnemonic == ZYDIS_MNEMONIC_UD2 || d.insn.mnemonic == ZYDIS_MNEMONIC_INT3 ||
        d.insn.mnemonic == ZYDIS_MNEMONIC_HLT)
      continue;
    if (cat == ZYDIS_CATEGORY_UNCOND_BR) {
      if (direct) edge(target);  // an indirect jump's targets are not known: no edge
      continue;
    }
    if (cat == ZYDIS_CATEGORY_COND_BR && direct) edge(target);
    edge(fall);  // a call returns (the unwinder's landing pads are not followed)
  }
  for (size_t i = 0; i < code.size(); ++i)
    for (size_t j : next[i]) prev[j].push_back(i);
  // Forward from the acquisitions, and backward to them, neither through a release.
  auto flood = [&](const std::vector<std::vector<size_t>>& edges) {
    std::vector<char> seen(code.size(), 0);
    std::vector<size_t> work;
    for (size_t i = 0; i < code.size(); ++i)
      if (role[i] == kAcquire)
        for (size_t j : edges[i]) work.push_back(j);
    while (!work.empty()) {
      const size_t i = work.back();
      work.pop_back();
      if (seen[i] || role[i] != kOther) continue;
      seen[i] = 1;
      for (size_t j : edges[i]) work.push_back(j);
    }
    return seen;
  };
  const std::vector<char> after = flood(next), before = flood(prev);
  for (size_t i = 0; i < code.size(); ++i) {
    if (after[i] && !before[i]) out.pcs.insert(code[i].ip);
    if (after[i] && !before[i] && code[i].insn.meta.category == ZYDIS_CATEGORY_RET) out.returns_held = true;
    if ((after[i] && before[i]) || role[i] == kAcquire) out.spin_pcs.insert(code[i].ip);
    out.retry_instructions += after[i] && before[i];
    if (after[i] && !before[i])
      for (size_t p : prev[i])
        if (role[p] == kAcquire || (after[p] && before[p])) out.entries.insert(code[i].ip);
  }
  return out;
}

namespace {

// The last few instructions before `return_pc`, the last of them the call that returns
// there, decoded linearly from the function's start (x86 cannot be decoded backwards).
// False when the code cannot be read or decoded or no call ends at `return_pc`.
bool decode_call_window(Symbolizer& sym, uint64_t return_pc, std::vector<Decoded>* last) {
  uint64_t start = 0;
  std::vector<uint8_t> code;
  if (!read_function_code(sym, return_pc - 1, &start, &code)) return false;
  constexpr size_t kWindow = 16;
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  for (size_t at = 0; start + at < return_pc && at < code.size();) {
    Decoded d;
    d.ip = start + at;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code.data() + at, code.size() - at, &d.insn, d.ops))) return false;
    at += d.insn.length;
    if (last->size() == kWindow) last->erase(last->begin());
    last->push_back(d);
  }
  return !last->empty() && last->back().ip + last->back().insn.length == return_pc &&
         last->back().insn.mnemonic == ZYDIS_MNEMONIC_CALL;
}

bool is_branch(const Decoded& d) {
  const ZydisInstructionCategory cat = d.insn.meta.category;
  return cat == ZYDIS_CATEGORY_COND_BR || cat == ZYDIS_CATEGORY_UNCOND_BR || cat == ZYDIS_CATEGORY_CALL ||
         cat == ZYDIS_CATEGORY_RET;
}

// Whether `d` is a two-operand instruction that sets all 64 bits of `reg`.
bool sets_whole(const Decoded& d, ZydisRegister reg) {
  return d.insn.operand_count_visible == 2 && d.ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && d.ops[0].size == 64 &&
         d.ops[0].reg.value == reg;
}

// How a call's argument register was set in the call's basic block (`last`, the call
// last), walked back from the call through register copies and constant offsets
// (std::mutex::lock inlined: `lea 0x8(%rdi),%rbp; ...; mov %rbp,%rdi`; -O0's member
// address in place: `add $0x28,%rax`). At each step the source register holds the
// pointer: the earliest one is the user's own (`t`), the later ones the inlined
// library's (`this`, `__mutex`).
struct ArgumentWalk {
  struct Step {
    size_t at;           // the instruction in `last` that copied from `reg`
    ZydisRegister reg;
    uint64_t offset;     // added from there to the call
  };
  std::vector<Step> steps;
  ZydisRegister reg;     // where the pointer was before the earliest step
  uint64_t offset = 0;   // added from there to the call
  // The write of `reg` the walk stopped at (a `lea` from the instruction pointer, a load,
  // anything not a copy or a constant offset); null when the block did not set it.
  const Decoded* set_by = nullptr;
};

ArgumentWalk walk_argument(const std::vector<Decoded>& last, ZydisRegister reg) {
  ArgumentWalk w;
  w.reg = reg;
  for (size_t i = last.size() - 1; i-- > 0;) {
    const Decoded& d = last[i];
    if (is_branch(d)) break;  // another basic block: what set the register is not known from here
    if (!writes(d, w.reg)) continue;
    const ZydisDecodedOperand& src = d.ops[1];
    const bool whole = sets_whole(d, w.reg);
    ZydisRegister from = ZYDIS_REGISTER_NONE;
    if (whole && d.insn.mnemonic == ZYDIS_MNEMONIC_LEA && src.type == ZYDIS_OPERAND_TYPE_MEMORY &&
        src.mem.index == ZYDIS_REGISTER_NONE && src.mem.disp.value >= 0 && src.mem.base != ZYDIS_REGISTER_RIP &&
        src.mem.base != ZYDIS_REGISTER_RSP) {
      from = src.mem.base;
      if (from != ZYDIS_REGISTER_NONE) w.offset += static_cast<uint64_t>(src.mem.disp.value);
    } else if (whole && d.insn.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_REGISTER &&
               src.reg.value != ZYDIS_REGISTER_RSP) {
      from = src.reg.value;
    } else if (whole && d.insn.mnemonic == ZYDIS_MNEMONIC_ADD && src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
               src.imm.value.s >= 0) {
      w.offset += static_cast<uint64_t>(src.imm.value.s);
      continue;
    }
    if (from == ZYDIS_REGISTER_NONE) {
      w.set_by = &d;
      break;
    }
    w.steps.push_back({i, from, w.offset});
    w.reg = from;
  }
  return w;
}

}  // namespace

uint64_t static_call_argument(Symbolizer& sym, uint64_t return_pc, ZydisRegister reg) {
  std::vector<Decoded> last;
  if (!decode_call_window(sym, return_pc, &last)) return 0;
  const ArgumentWalk w = walk_argument(last, reg);
  // Only `lea g_table(%rip),%rax`: anything else (a load, an element computed at run
  // time, nothing in the block) is not a static address.
  const Decoded* d = w.set_by;
  if (!d || !sets_whole(*d, w.reg) || d->insn.mnemonic != ZYDIS_MNEMONIC_LEA ||
      d->ops[1].type != ZYDIS_OPERAND_TYPE_MEMORY || d->ops[1].mem.base != ZYDIS_REGISTER_RIP ||
      d->ops[1].mem.index != ZYDIS_REGISTER_NONE)
    return 0;
  ZyanU64 address = 0;
  if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d->insn, &d->ops[1], d->ip, &address))) return 0;
  return address + w.offset;
}

std::string lock_argument_name(Symbolizer& sym, uint64_t return_pc) {
  std::vector<Decoded> last;
  if (!decode_call_window(sym, return_pc, &last)) return "";
  // A condition variable's wait (pthread_cond_wait, std::condition_variable::wait, Rust's
  // Condvar::wait) takes the condition variable first: the lock it re-takes, the waited
  // futex, is not what its argument points to.
  if (ZyanU64 callee = 0; last.back().ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                          ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&last.back().insn, &last.back().ops[0],
                                                                last.back().ip, &callee))) {
    std::string name = plt_target_name(sym, callee);
    if (name.empty()) name = sym.code(callee).function;
    if (name.rfind("pthread_cond_", 0) == 0 || name.find("condition_variable") != std::string::npos ||
        name.find("Condvar") != std::string::npos)
      return "";
  }
  // A scope guard's constructor out of line (-O0: `lock_guard<mutex>::lock_guard(mutex&)`,
  // absl::MutexLock(Mutex*)) takes the guard in rdi and the lock in rsi.
  ZydisRegister reg = ZYDIS_REGISTER_RDI;
  if (ZyanU64 target = 0; last.back().ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                          ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&last.back().insn, &last.back().ops[0],
                                                                last.back().ip, &target)) &&
                          is_guard_constructor(sym.code(target).function))
    reg = ZYDIS_REGISTER_RSI;
  const ArgumentWalk w = walk_argument(last, reg);
  const auto& steps = w.steps;
  reg = w.reg;
  const uint64_t offset = w.offset;
  // -O0: the pointer was loaded from its variable's stack slot (`mov -0x18(%rbp),%rdx`).
  std::string from_slot;
  uint64_t set_offset = 0;  // a `lea` that set it: its displacement (the pointer is not the argument)
  if (const Decoded* d = w.set_by; d && sets_whole(*d, reg)) {
    const ZydisDecodedOperand& src = d->ops[1];
    if (d->insn.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_MEMORY &&
        (src.mem.base == ZYDIS_REGISTER_RBP || src.mem.base == ZYDIS_REGISTER_RSP) &&
        src.mem.index == ZYDIS_REGISTER_NONE && src.mem.segment != ZYDIS_REGISTER_FS &&
        src.mem.segment != ZYDIS_REGISTER_GS)
      from_slot = stack_slot_pointee_name(sym, d->ip, dwarf_index(src.mem.base), src.mem.disp.value, offset);
    else if (d->insn.mnemonic == ZYDIS_MNEMONIC_LEA && src.type == ZYDIS_OPERAND_TYPE_MEMORY &&
             src.mem.index == ZYDIS_REGISTER_NONE && src.mem.disp.value >= 0)
      set_offset = static_cast<uint64_t>(src.mem.disp.value);
  }
  if (!from_slot.empty()) return from_slot;
  // Nothing in the block set the argument: the caller's own variable may be in that
  // register already (`lock(&q->mu)` with `q` in rdi and `mu` first).
  if (steps.empty() && offset + set_offset == 0)
    if (std::string n = pointee_member_name(sym, last.back().ip, dwarf_index(reg), 0, nullptr, 0, /*outermost=*/true);
        !n.empty() && n.find(" (via __") == std::string::npos)
      return n;
  // The source register holds the pointer from that instruction until it is written
  // again: DWARF may locate the variable there at any of those instructions.
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    for (size_t j = it->at; j + 1 < last.size(); ++j) {
      // A variable of the library's inlined code (`__m`, a reserved name) names the
      // library's view (`mutex_type (via __m)`), not the program's: only the program's own.
      if (std::string n = pointee_member_name(sym, last[j].ip, dwarf_index(it->reg), it->offset, nullptr, 0,
                                              /*outermost=*/true);
          !n.empty() && n.find(" (via __") == std::string::npos)
        return n;
      if (writes(last[j], it->reg)) break;
    }
  // A Rust debug build calls the generic lock method out of line with the reference in
  // an unnamed temporary: the method's `self` type names the lock (offset 0: the
  // argument is the Mutex / RwLock itself).
  if (ZyanU64 target = 0; last.back().ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                          ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&last.back().insn, &last.back().ops[0],
                                                                last.back().ip, &target)))
  {
    // std's own inner lock (`futex::Mutex::lock_contended(&self)` out of line) names
    // no program data: only a type with the program's parameters (Mutex<Table>) does.
    std::string n = rust_self_pointee_name(sym, target, 0);
    for (const char* bare : {"Mutex", "RwLock", "Condvar", "Once"})
      if (n == bare) n.clear();
    return n;
  }
  return "";
}

}  // namespace ccprof::profiler
