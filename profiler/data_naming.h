#pragma once
// Names a data address the way a developer wrote it: the global or static variable
// plus the member path from its DWARF type, `g_counters[3]`, `g_stats.requests`,
// `g_padded[2].value`.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {

// The member path of `addr` inside the global/static variable that holds it, or ""
// when the address is not in such a variable or the module has no DWARF for it.
std::string data_member_name(Symbolizer& sym, uint64_t addr);

// The member path of an access through a pointer, named after the variable or
// parameter that holds the pointer at the accessing instruction: `pc` is that
// instruction, `dwarf_reg` its base register (x86-64 DWARF number) and `offset` the
// access's distance from the register's value. "worker_args.sum_x (via args)",
// "Slot[+1].value (via slots)" (an element past the one pointed to), "Counter.hits"
// for `this`. "" when no variable in scope is located in that register at `pc` (the usual
// case at -O0, where variables live on the stack), or its type is not a pointer to a
// type with members.
//
// With `frame` (the sample's registers and a reader of its stack copy), a pointer that
// lives in a stack slot is found too (-O0: `mov -0x18(%rbp),%rax; addq $1,0x8(%rax)`):
// the variable in scope whose slot holds the base register's value `base_value`.
struct SampleFrame {
  const UserRegs* regs = nullptr;
  std::function<std::optional<uint64_t>(uint64_t addr)> read_word;  // 8 bytes of the stack copy
};
// `outermost` prefers the variable of the outermost scope (the user's function's `t`)
// to those of code inlined into it (std::mutex::lock's `this`, pthread's `__mutex`).
std::string pointee_member_name(Symbolizer& sym, uint64_t pc, int dwarf_reg, uint64_t offset,
                                const SampleFrame* frame = nullptr, uint64_t base_value = 0,
                                bool outermost = false);

// The member path of byte `offset` of what the pointer in a stack slot points to, named
// after the variable or parameter in that slot at `pc`: the slot is `disp` from DWARF
// register `base_reg` (-O0: `mov -0x18(%rbp),%rdx` loads `t`). "" when no variable in
// scope lives there, or the frame base at `pc` is not `base_reg` + a constant.
std::string stack_slot_pointee_name(Symbolizer& sym, uint64_t pc, int base_reg, int64_t disp, uint64_t offset);

// The member path of byte `offset` of what a Rust method's `self` points to, by the type
// of the `self` parameter of the function at `fn_addr` (its entry): a debug build's
// `Mutex<HashMap<u64, u64>>::lock` says which Mutex it locks, where the caller's copy of
// the reference (Arc::deref's result) is in an unnamed temporary. "" when the function
// is not Rust, its first parameter is not `self`, or that is not a pointer to a struct.
std::string rust_self_pointee_name(Symbolizer& sym, uint64_t fn_addr, uint64_t offset);

// What pointee_member_name(sym, pc, dwarf_reg, any offset, frame, base_value) reads of
// a sample's stack, which depends on the instruction and not on the sample: found once
// per instruction by the agent's drain thread, which keeps only those stack words of
// each memory sample (online_reducer.cc). `in_register`: a variable located in the
// register names the pointee, and no stack word is read. Otherwise the words at frame
// base + each of `slots`, in the order pointee_member_name tries them: the pointer
// variables in scope that live in a stack slot; the first that holds `base_value` names
// it. The frame base is register `frame_base_reg` + `frame_base_offset` (-1: no frame
// base at `pc`, no slot is read).
struct PointeeSlots {
  bool in_register = false;
  int frame_base_reg = -1;
  int64_t frame_base_offset = 0;
  std::vector<int64_t> slots;
};
PointeeSlots pointee_slots(Symbolizer& sym, uint64_t pc, int dwarf_reg);

// data_member_name() when it has one, else the symbol (+offset), else the region:
// "heap", "stack of thread 4243", "TLS of thread 4243", "anonymous mapping ...".
std::string describe_data(Symbolizer& sym, uint64_t addr);

}  // namespace ccprof::profiler
