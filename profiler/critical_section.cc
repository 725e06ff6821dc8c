#include "profiler/critical_section.h"

#include <cstring>

#include <Zydis/Zydis.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "profiler/lock_code.h"
#include "profiler/lock_libraries.h"

namespace ccprof::profiler {

CriticalSection decode_critical_section(Symbolizer& sym, uint64_t pc, int max_instructions) {
  CriticalSection cs;
  std::vector<uint8_t> code;
  if (!sym.read_file_bytes(pc, 15 * static_cast<size_t>(max_instructions), code) || code.empty()) {
    cs.stop = "no code";
    return cs;
  }
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  size_t off = 0;
  cs.decoded = true;
  cs.stop = "limit";
  while (cs.instructions < max_instructions && off < code.size()) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code.data() + off, code.size() - off, &insn, ops))) {
      cs.stop = "undecodable";
      break;
    }
    const uint64_t ip = pc + off;
    ++cs.instructions;
    if (insn.mnemonic == ZYDIS_MNEMONIC_CALL) {
      cs.stop = "call";
      break;
    }
    if (insn.mnemonic == ZYDIS_MNEMONIC_RET) {
      cs.stop = "ret";
      break;
    }
    if (insn.mnemonic == ZYDIS_MNEMONIC_JMP) {
      // A forward jump within the code read: follow it. Anything else ends the section:
      // at -O2 the unlock is often a tail call (`jmp pthread_mutex_unlock@plt`).
      ZyanU64 target = 0;
      if (ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], ip, &target)) &&
          target > ip && target < pc + code.size() && sym.code(target).function == sym.code(ip).function) {
        off = target - pc;
        continue;
      }
      cs.stop = "tail-call";
      break;
    }
    for (int i = 0; i < insn.operand_count_visible; ++i) {
      const ZydisDecodedOperand& op = ops[i];
      if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || insn.mnemonic == ZYDIS_MNEMONIC_LEA) continue;
      ZydisRegister base = op.mem.base;
      if (base == ZYDIS_REGISTER_RSP || base == ZYDIS_REGISTER_RBP) continue;  // the thread's own stack
      if (base == ZYDIS_REGISTER_RIP && op.mem.index == ZYDIS_REGISTER_NONE) {
        ZyanU64 addr = 0;
        if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &op, ip, &addr))) continue;
        CriticalSectionAccess a;
        a.insn_addr = ip;
        a.data_addr = addr;
        a.size = op.size / 8;
        a.read = op.actions & ZYDIS_OPERAND_ACTION_MASK_READ;
        a.write = op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
        a.locked = insn.attributes & ZYDIS_ATTRIB_HAS_LOCK;
        cs.accesses.push_back(a);
      } else {
        ++cs.dynamic_accesses;
      }
    }
    off += insn.length;
  }
  return cs;
}

}  // namespace ccprof::profiler

namespace ccprof::profiler {
namespace {

bool name_is_unlock(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.find("unlock") != std::string::npos) return true;
  // A scope guard's destructor, out of line at -O0: where RAII code unlocks.
  for (std::string_view guard : {"~lock_guard", "~scoped_lock", "~unique_lock", "~mutexlock", "~readermutexlock",
                                 "~writermutexlock", "~shared_lock"})
    if (lower.find(guard) != std::string::npos) return true;
  return false;
}

// A memory operand that is not the thread's own stack (rsp/rbp-based) or its TLS (fs/gs).
bool shared_memory_operand(const ZydisDecodedOperand& op) {
  if (op.type != ZYDIS_OPERAND_TYPE_MEMORY) return false;
  if (op.mem.base == ZYDIS_REGISTER_RSP || op.mem.base == ZYDIS_REGISTER_RBP) return false;
  return op.mem.segment != ZYDIS_REGISTER_FS && op.mem.segment != ZYDIS_REGISTER_GS;
}

// Whether the function that starts at `entry` has an instruction that stores to shared
// memory (a visible memory operand written that is not rsp/rbp or fs/gs based), on any
// path; false when its code cannot be read.
bool function_stores_shared(Symbolizer& sym, uint64_t entry) {
  bool stores = false;
  for_each_function_instruction(sym, entry, [&](uint64_t, const ZydisDecodedInstruction& insn,
                                                const ZydisDecodedOperand* ops) {
    for (int i = 0; i < insn.operand_count_visible && !stores; ++i)
      stores = shared_memory_operand(ops[i]) && (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE);
    return stores;
  });
  return stores;
}

}  // namespace

std::string plt_target_name(Symbolizer& sym, uint64_t addr) {
  Dwfl_Module* mod = sym.dwfl() ? dwfl_addrmodule(sym.dwfl(), addr) : nullptr;
  if (!mod) return "";
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(mod, &bias);
  size_t shstrndx = 0;
  if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0) return "";
  const uint64_t vaddr = addr - bias;
  Elf_Scn* rela_plt = nullptr;
  int64_t index = -1;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (!name) continue;
    const std::string_view n(name);
    if (n == ".rela.plt") rela_plt = scn;
    if ((n == ".plt.sec" || n == ".plt") && vaddr >= shdr.sh_addr && vaddr < shdr.sh_addr + shdr.sh_size) {
      // 16-byte stubs; the lazy .plt starts with one header stub (PLT0).
      const uint64_t stub = (vaddr - shdr.sh_addr) / 16;
      index = n == ".plt" ? static_cast<int64_t>(stub) - 1 : static_cast<int64_t>(stub);
    }
  }
  if (!rela_plt || index < 0) return "";
  GElf_Shdr rshdr;
  Elf_Data* data = elf_getdata(rela_plt, nullptr);
  if (!gelf_getshdr(rela_plt, &rshdr) || !data || rshdr.sh_entsize == 0 ||
      static_cast<uint64_t>(index) >= rshdr.sh_size / rshdr.sh_entsize)
    return "";
  GElf_Rela rela;
  if (!gelf_getrela(data, static_cast<int>(index), &rela)) return "";
  Elf_Scn* dynsym = elf_getscn(elf, rshdr.sh_link);
  GElf_Shdr dshdr;
  Elf_Data* syms = dynsym ? elf_getdata(dynsym, nullptr) : nullptr;
  GElf_Sym s;
  if (!syms || !gelf_getshdr(dynsym, &dshdr) || !gelf_getsym(syms, static_cast<int>(GELF_R_SYM(rela.r_info)), &s))
    return "";
  const char* name = elf_strptr(elf, dshdr.sh_link, s.st_name);
  return name ? name : "";
}

namespace {

// Whether the instruction that ends at `pc` is a direct call to sched_yield: the site of
// a lock made from the yields of a spinning acquisition (tbb::spin_mutex's lock()
// inlined into the user's function), which has not taken the lock yet there.
bool after_yield_call(Symbolizer& sym, uint64_t pc) {
  std::vector<uint8_t> code;
  if (pc < 5 || !sym.read_file_bytes(pc - 5, 5, code) || code.size() != 5 || code[0] != 0xe8) return false;
  int32_t rel = 0;
  std::memcpy(&rel, code.data() + 1, 4);
  const uint64_t target = pc + static_cast<int64_t>(rel);
  const std::string plt = plt_target_name(sym, target);
  return (plt.empty() ? sym.code(target).function : plt) == "sched_yield";
}

}  // namespace

SectionExtent walk_critical_section(Symbolizer& sym, uint64_t pc, int max_instructions, uint64_t lock_word) {
  SectionExtent out;
  // From a yield inside the acquisition loop, the first atomic exchange on the path is
  // the acquisition (`xchg %al, g_table`), not the release: the section starts after it.
  bool acquiring = after_yield_call(sym, pc);
  // The function the code belongs to is the outermost level of its inline chain: the
  // user-visible `function` of a jump target inside code inlined from another of the
  // program's functions (Rust's route_request in read_config_exclusive) is that inlined
  // function, and a jump there is no tail call.
  auto outermost = [](const CodeLocation& c) { return c.inline_chain.empty() ? c.function : c.inline_chain.back(); };
  const std::string function = outermost(sym.code(pc - 1));
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  std::vector<uint8_t> code;
  uint64_t code_start = 0;
  std::set<uint64_t> visited;
  uint64_t ip = pc;
  // Why the section left for other code, first time; the walk goes on after the call to
  // see the rest of the path (stores), and the section is not self-contained.
  std::string left;
  auto stop = [&](bool contained, std::string why) {
    out.unlocked = contained;
    out.self_contained = contained && left.empty();
    out.reason = left.empty() ? std::move(why) : left;
    return out;
  };
  auto leave = [&](std::string why) {
    if (left.empty()) left = std::move(why);
  };
  auto in_function = [&](uint64_t target) { return !function.empty() && outermost(sym.code(target)) == function; };
  for (int n = 0; n < max_instructions; ++n) {
    if (ip < code_start || ip + 15 > code_start + code.size()) {
      code.clear();
      if (!sym.read_file_bytes(ip, 4096, code) || code.empty()) return stop(false, out.decoded ? "code ends" : "no code");
      code_start = ip;
    }
    out.decoded = true;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code.data() + (ip - code_start), code.size() - (ip - code_start),
                                             &insn, ops)))
      return stop(false, "undecodable code");
    visited.insert(ip);
    const uint64_t next = ip + insn.length;
    ZyanU64 target = 0;
    const bool direct = insn.operand_count_visible > 0 && ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                        ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], ip, &target));
    switch (insn.mnemonic) {
      case ZYDIS_MNEMONIC_CALL:
      case ZYDIS_MNEMONIC_JMP: {
        const bool call = insn.mnemonic == ZYDIS_MNEMONIC_CALL;
        if (!direct && !call) return stop(false, "takes an indirect jump");
        if (!direct) {
          out.indirect_call = true;
          leave("makes an indirect call (target not known)");
          ip = next;
          continue;
        }
        if (!call && in_function(target)) {
          // A jump within the function: follow it, unless it goes back to code already
          // walked (a loop's back edge): then the path goes on after it.
          if (visited.count(target)) ++out.loops;
          ip = visited.count(target) ? next : target;
          continue;
        }
        const std::string plt = plt_target_name(sym, target);
        const CodeLocation& callee = sym.code(target);
        const std::string& name = plt.empty() ? callee.function : plt;
        if (name_is_unlock(name)) return stop(true, "unlock");
        if (!call) return stop(false, absl::StrCat("tail call to ", name.empty() ? "unknown code" : name));
        // Another library's function (through the PLT, or a lock library's own code such
        // as Rust std's slow paths): not the program's code; the walk goes on after it.
        if (!plt.empty() || callee.in_system_library || is_lock_library_code(callee)) {
          ip = next;
          continue;
        }
        leave(absl::StrCat("calls ", name.empty() ? "unknown code" : name));
        out.program_calls.push_back(next);
        if (out.callee_writer.empty() && function_stores_shared(sym, target))
          out.callee_writer = name.empty() ? "unknown code" : name;
        ip = next;
        continue;
      }
      case ZYDIS_MNEMONIC_RET:
        return stop(false, "returns before the unlock");
      case ZYDIS_MNEMONIC_UD2:
      case ZYDIS_MNEMONIC_INT3:
      case ZYDIS_MNEMONIC_HLT:
        return stop(false, "trap before the unlock");
      default:
        break;
    }
    // A conditional branch is not followed (the path falls through), but one back to
    // code already walked closes a loop inside the section.
    if (insn.meta.category == ZYDIS_CATEGORY_COND_BR && direct && visited.count(target)) ++out.loops;
    // An inlined unlock: an atomic exchange or locked RMW on shared memory (the lock word).
    const bool atomic_rmw = (insn.attributes & ZYDIS_ATTRIB_HAS_LOCK) || insn.mnemonic == ZYDIS_MNEMONIC_XCHG;
    // A spin lock's release: a plain store to its word.
    if (lock_word && !atomic_rmw)
      for (int i = 0; i < insn.operand_count_visible; ++i) {
        ZyanU64 at = 0;
        if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_RIP &&
            (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
            ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[i], ip, &at)) && at == lock_word)
          return stop(true, "release store");
      }
    bool acquisition = false;
    if (atomic_rmw)
      for (int i = 0; i < insn.operand_count_visible; ++i)
        if (shared_memory_operand(ops[i]) && (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) {
          if (!acquiring) return stop(true, "atomic release");
          acquiring = false;
          acquisition = true;  // the lock word's exchange, not a store of the section
          break;
        }
    if (acquisition) {
      ip = next;
      continue;
    }
    for (int i = 0; i < insn.operand_count_visible; ++i)
      if (shared_memory_operand(ops[i]) && (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
        out.writes_shared = true;
    ip = next;
  }
  return stop(false, "no unlock within the instructions walked");
}

}  // namespace ccprof::profiler
