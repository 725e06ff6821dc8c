#include "profiler/online_reducer.h"

#include <cstring>

#include "profiler/data_naming.h"
#include "profiler/decode_access.h"
#include "profiler/symbolizer.h"
#include "profiler/unwinder.h"

namespace ccprof::profiler {

OnlineReducer::OnlineReducer() = default;
OnlineReducer::~OnlineReducer() = default;

bool OnlineReducer::rebuild_if_grown(const Recording& rec, uint32_t pid, Process& p) {
  const ProcessInfo* info = rec.process(pid);
  if (!info || info->maps.empty()) return false;
  // Maps only grow between execs (the snapshots keep their union); an exec replaces them.
  if (p.sym && info->maps.size() == p.info.maps.size() && info->exe == p.info.exe) return false;
  p.decoder.reset();
  p.pointee_slots.clear();
  p.sym.reset();
  p.info = *info;
  p.sym = std::make_unique<Symbolizer>(p.info, rec.target_files.get());
  return true;
}

OnlineReducer::Process* OnlineReducer::process(const Recording& rec, uint32_t pid, uint64_t pc) {
  Process& p = procs_[pid];
  if (!p.sym || !p.sym->map_of(pc)) rebuild_if_grown(rec, pid, p);
  return p.sym && p.sym->map_of(pc) ? &p : nullptr;
}

bool OnlineReducer::unwind(const Recording& rec, const StackCopy& copy, StackFrames* out) {
  Process* p = process(rec, copy.pid, copy.regs[kRip]);
  if (!p) {
    *out = {};
    out->stop = "the stack's IP is outside the process's recorded maps";
    return false;
  }
  // Addresses only: symbols are looked up once per address by the analysis.
  UnwindResult r = unwind_stack(*p->sym, copy, 64, /*symbolize=*/false);
  const bool ends_unmapped = !r.complete && !r.frames.empty() && !p->sym->map_of(r.frames.back().pc);
  if (ends_unmapped && rebuild_if_grown(rec, copy.pid, *p)) {
    // A caller in code mapped since the last session (dlopen): unwind again.
    r = unwind_stack(*p->sym, copy, 64, false);
  }
  *out = to_stack_frames(r);
  return !(!r.complete && !r.frames.empty() && !p->sym->map_of(r.frames.back().pc));
}

bool OnlineReducer::stack_reads(const Recording& rec, const MemorySample& m,
                                std::vector<std::pair<uint64_t, uint32_t>>* out, SampleDecode* decoded) {
  out->clear();
  Process* p = process(rec, m.pid, m.regs[kRip]);
  if (!p) return false;
  if (!p->decoder) p->decoder = std::make_unique<AccessDecoder>(*p->sym);
  DecodeResult r = p->decoder->decode(m.regs[kRip], m.regs, m.fsbase, &m.stack_windows);
  *out = std::move(r.stack_reads);
  if (decoded) *decoded = r;  // the SampleDecode part
  // The analysis names heap data by the pointer variable whose stack slot holds the
  // access's base (-O0, data_naming.h): keep that one slot, a pointer, when it is found.
  // Which slots the naming would read depends on the instruction only: found once per
  // instruction (its DWARF walk costs tens of microseconds, a memory sample's budget).
  if (r.access && r.access->base_dwarf_reg >= 0 && !r.access->stack_relative && !r.access->rip_relative &&
      !r.access->fs_relative && r.access->data_addr >= r.access->base_value) {
    const uint64_t key = r.access->insn_addr << 4 | static_cast<uint64_t>(r.access->base_dwarf_reg & 15);
    auto it = p->pointee_slots.find(key);
    if (it == p->pointee_slots.end())
      it = p->pointee_slots.emplace(key, pointee_slots(*p->sym, r.access->insn_addr, r.access->base_dwarf_reg)).first;
    const PointeeSlots& plan = it->second;
    if (!plan.in_register && plan.frame_base_reg >= 0) {
      const uint64_t fb = m.regs[plan.frame_base_reg] + plan.frame_base_offset;
      bool kept = false;
      for (int64_t slot : plan.slots) {
        const uint64_t addr = fb + slot;
        for (const auto& w : m.stack_windows)
          if (addr >= w.addr && addr - w.addr + 8 <= w.bytes.size()) {
            uint64_t v = 0;
            memcpy(&v, w.bytes.data() + (addr - w.addr), 8);
            if (v == r.access->base_value) {
              out->emplace_back(addr, 8);
              kept = true;
            }
            break;
          }
        if (kept) break;
      }
    }
  }
  // The analysis also follows the frame-pointer chain of -O0 code from rbp (a saved rbp
  // and a return address per level, index.cc caller_in_program and frame_callers.h):
  // keep those words.
  // They are stack and code addresses, not the target's data.
  uint64_t bp = m.regs[kRbp];
  const uint64_t sp = m.regs[kRsp];
  for (int depth = 0; depth < 4 && bp >= sp && bp - sp <= 4096; ++depth) {
    out->emplace_back(bp, 16);
    uint64_t saved = 0;
    bool found = false;
    for (const auto& w : m.stack_windows)
      if (bp >= w.addr && bp - w.addr + 8 <= w.bytes.size()) {
        memcpy(&saved, w.bytes.data() + (bp - w.addr), 8);
        found = true;
        break;
      }
    if (!found || saved <= bp) break;
    bp = saved;
  }
  return true;
}

std::shared_ptr<model::TargetMemoryReducer> make_online_reducer() { return std::make_shared<OnlineReducer>(); }

}  // namespace ccprof::profiler
