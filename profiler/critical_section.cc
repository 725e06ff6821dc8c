#include "profiler/critical_section.h"

#include <Zydis/Zydis.h>

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
