#include "profiler/unwinder.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>

#include <cstring>

#include "profiler/libdw_error.h"

namespace ccprof::profiler {
namespace {

// libdw asks for the thread's registers and memory through these callbacks; the
// "thread" is the recorded stack copy (modelled on perf's unwind-libdw.c).
struct UnwindState {
  const StackCopy* stack = nullptr;
  Symbolizer* sym = nullptr;
  UnwindResult* out = nullptr;
  int max_frames = 64;
  bool symbolize = true;
};

pid_t next_thread(Dwfl*, void* dwfl_arg, void** thread_argp) {
  auto* st = static_cast<UnwindState*>(dwfl_arg);
  if (*thread_argp) return 0;
  *thread_argp = dwfl_arg;
  return static_cast<pid_t>(st->stack->tid ? st->stack->tid : 1);
}

bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* dwfl_arg) {
  auto* st = static_cast<UnwindState*>(dwfl_arg);
  uint64_t word = 0;
  if (read_stack_copy(*st->stack, addr, &word)) {
    *result = word;
    return true;
  }
  // Outside the copy: CFI may read constants from the binaries (rare); read from disk.
  std::vector<uint8_t> bytes;
  if (st->sym->read_file_bytes(addr, 8, bytes) && bytes.size() == 8) {
    memcpy(result, bytes.data(), 8);
    return true;
  }
  return false;
}

bool set_initial_registers(Dwfl_Thread* thread, void* thread_arg) {
  auto* st = static_cast<UnwindState*>(thread_arg);
  Dwarf_Word regs[kNumRegs];
  for (int i = 0; i < kNumRegs; ++i) regs[i] = st->stack->regs[i];
  return dwfl_thread_state_registers(thread, 0, kNumRegs, regs);
}

const Dwfl_Thread_Callbacks kCallbacks = {
    .next_thread = next_thread,
    .get_thread = nullptr,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
    .detach = nullptr,
    .thread_detach = nullptr,
};

int on_frame(Dwfl_Frame* frame, void* arg) {
  auto* st = static_cast<UnwindState*>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(frame, &pc, &activation)) return DWARF_CB_ABORT;
  if (pc == 0) return DWARF_CB_ABORT;
  Frame f;
  f.pc = pc;
  f.lookup_pc = activation ? pc : pc - 1;
  if (st->symbolize) f.loc = st->sym->code(f.lookup_pc);
  st->out->frames.push_back(std::move(f));
  if (static_cast<int>(st->out->frames.size()) >= st->max_frames) return DWARF_CB_ABORT;
  return DWARF_CB_OK;
}

}  // namespace

bool read_stack_copy(const StackCopy& s, uint64_t addr, uint64_t* out) {
  // In differences only: CFI from a hostile recording computed addresses near 2^64, and
  // `addr + 8 <= sp + size` wrapped around and read far outside the copy.
  const uint64_t sp = s.regs[kRsp];
  if (addr < sp || addr - sp > s.stack.size() || s.stack.size() - (addr - sp) < 8) return false;
  memcpy(out, s.stack.data() + (addr - sp), 8);
  return true;
}

UnwindResult unwind_stack(Symbolizer& sym, const StackCopy& stack, int max_frames, bool symbolize) {
  UnwindResult result;
  Dwfl* dwfl = sym.dwfl();
  if (!dwfl) {
    result.error = "no libdw session";
    return result;
  }
  // dwfl_attach_state may be called once per Dwfl: the callbacks read the current
  // stack through a slot owned by the Symbolizer, refilled for every stack.
  if (!sym.unwind_slot) {
    auto slot = std::make_shared<UnwindState>();
    if (!dwfl_attach_state(dwfl, nullptr, static_cast<pid_t>(stack.tid ? stack.tid : 1), &kCallbacks, slot.get())) {
      result.error = "cannot attach unwinder: " + libdw_error_text(-1);
      return result;
    }
    sym.unwind_slot = slot;
  }
  auto* slot = static_cast<UnwindState*>(sym.unwind_slot.get());
  *slot = UnwindState{&stack, &sym, &result, max_frames, symbolize};
  int rc = dwfl_getthread_frames(dwfl, static_cast<pid_t>(stack.tid ? stack.tid : 1), on_frame, slot);
  if (rc == 0) {
    result.complete = true;
  } else if (static_cast<int>(result.frames.size()) >= max_frames) {
    result.error = "frame limit reached";
  } else {
    int e = dwfl_errno();
    result.error = e ? libdw_error_text(e) : "unwinding stopped";
    // Reaching the end of the stack copy after the user's frames is the common case.
    result.complete = false;
  }
  return result;
}

StackFrames to_stack_frames(const UnwindResult& r) {
  StackFrames f;
  f.pcs.reserve(r.frames.size());
  for (size_t i = 0; i < r.frames.size(); ++i) {
    f.pcs.push_back(r.frames[i].pc);
    if (i < 64 && r.frames[i].lookup_pc == r.frames[i].pc) f.activation |= uint64_t{1} << i;
  }
  f.complete = r.complete;
  f.stop = r.error;
  return f;
}

std::vector<Frame> frames_of(Symbolizer& sym, const StackFrames& f) {
  std::vector<Frame> frames(f.pcs.size());
  for (size_t i = 0; i < f.pcs.size(); ++i) {
    frames[i].pc = f.pcs[i];
    const bool activation = i < 64 && (f.activation >> i & 1);
    frames[i].lookup_pc = activation ? f.pcs[i] : f.pcs[i] - 1;
    frames[i].loc = sym.code(frames[i].lookup_pc);
  }
  return frames;
}

}  // namespace ccprof::profiler
