#include "profiler/index.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "model/pmu_record.h"
#include "profiler/data_naming.h"
#include "profiler/decode_access.h"
#include "profiler/frame_callers.h"
#include "profiler/lock_libraries.h"
#include "profiler/lock_yields.h"
#include "profiler/phase_times.h"
#include "profiler/spin_locks.h"
#include "profiler/thresholds.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {

// ---- threads ---------------------------------------------------------------------

ThreadTable::ThreadTable(const Recording& rec) {
  auto clip = [&](uint64_t start, uint64_t end, ThreadRow& row) {
    row.created_in_profile = start > rec.start_ns;
    row.exited_in_profile = end && end < rec.end_ns;
    row.start_ns = std::max(start, rec.start_ns);
    row.end_ns = end ? std::min(end, rec.end_ns) : rec.end_ns;
    row.lifetime_s = row.end_ns > row.start_ns ? (row.end_ns - row.start_ns) / 1e9 : 0;
  };
  for (const auto& t : rec.threads) {
    ThreadRow row;
    row.tid = t.tid;
    row.pid = t.pid;
    row.comm = t.comm;
    const SchedThread* st = rec.has_sched ? rec.sched.thread(t.tid) : nullptr;
    row.sched = st;
    // The scheduler's fork and exit events are the kernel's own times: prefer them.
    clip(st && st->created_ns ? st->created_ns : t.start_ns, st && st->exited_ns ? st->exited_ns : t.end_ns, row);
    add(std::move(row));
  }
  if (!rec.has_sched) return;
  // Threads only the sched collector saw (created and gone between two /proc reads).
  for (const auto& t : rec.sched.threads) {
    if (find(t.tid)) continue;
    ThreadRow row;
    row.tid = t.tid;
    row.pid = t.pid;
    row.comm = t.comm;
    row.sched = &t;
    clip(t.created_ns, t.exited_ns, row);
    add(std::move(row));
  }
}

void ThreadTable::add(ThreadRow row) {
  auto it = by_tid_.find(row.tid);
  if (it != by_tid_.end()) {
    total_s_ -= rows_[it->second].lifetime_s;
    total_s_ += row.lifetime_s;
    rows_[it->second] = std::move(row);
    return;
  }
  total_s_ += row.lifetime_s;
  by_tid_[row.tid] = rows_.size();
  rows_.push_back(std::move(row));
}

const ThreadRow* ThreadTable::find(uint32_t tid) const {
  auto it = by_tid_.find(tid);
  return it == by_tid_.end() ? nullptr : &rows_[it->second];
}

double ThreadTable::lifetime_s(uint32_t tid) const {
  const ThreadRow* r = find(tid);
  return r ? r->lifetime_s : 0;
}

std::string ThreadTable::comm(uint32_t tid) const {
  const ThreadRow* r = find(tid);
  return r ? r->comm : "";
}

// ---- symbols and stacks ----------------------------------------------------------

Index::Index(const Recording& r) : rec(r), threads(r), shared(r) {}
Index::~Index() = default;

Symbolizer* Index::symbolizer(uint32_t pid) const {
  auto it = syms_.find(pid);
  if (it != syms_.end()) return it->second.get();
  const ProcessInfo* p = rec.process(pid);
  if (!p) return nullptr;
  return syms_.emplace(pid, std::make_unique<Symbolizer>(*p, rec.target_files.get())).first->second.get();
}

const std::vector<Frame>& Index::frames(int stack_index) const {
  static const std::vector<Frame> kNone;
  if (stack_index < 0 || stack_index >= static_cast<int>(rec.stacks.size())) return kNone;
  if (frames_.size() != rec.stacks.size()) frames_.resize(rec.stacks.size());
  CopyFrames& c = frames_[stack_index];
  if (c.frames) return *c.frames;
  c.frames = &kNone;
  const StackCopy& s = rec.stacks[stack_index];
  Symbolizer* sym = symbolizer(s.pid);
  if (!sym) {
    losses["unwind.unknown_process"]++;
    return kNone;
  }
  // Unwound by the agent while profiling (format 3), else from the raw bytes.
  const bool listed = s.frames >= 0 && s.frames < static_cast<int>(rec.stack_frames.size());
  auto [it, fresh] = unwound_.try_emplace(listed ? std::tuple{s.pid, s.frames, -1} : std::tuple{s.pid, -1, stack_index});
  Unwound& u = it->second;
  if (fresh) {
    UnwindResult r;
    if (listed) {
      const StackFrames& f = rec.stack_frames[s.frames];
      r.frames = frames_of(*sym, f);
      r.complete = f.complete;
      r.error = f.stop;
    } else {
      r = unwind_stack(*sym, s);
    }
    if (r.frames.empty()) {
      u.loss = "unwind.failed";
    } else if (!r.complete) {
      // Stopping at the end of the copied stack after the user's frames is normal;
      // it is a loss only when no user frame was reached.
      bool user = false;
      for (const auto& f : r.frames)
        if (!is_library_frame(f.loc)) user = true;
      if (!user) u.loss = "unwind.no_user_frame";
    }
    u.frames = std::move(r.frames);
  }
  if (u.loss) losses[u.loss]++;
  c.frames = &u.frames;
  c.unwound = &u;
  return u.frames;
}

std::vector<const Frame*> Index::user_frames(int stack_index) const {
  std::vector<const Frame*> out;
  for (const Frame& f : frames(stack_index)) {
    if (is_user_code(f.loc)) out.push_back(&f);
  }
  return out;
}

const Frame* Index::user_frame(int stack_index) const {
  const std::vector<Frame>& fs = frames(stack_index);
  Unwound* u = stack_index >= 0 && static_cast<size_t>(stack_index) < frames_.size() ? frames_[stack_index].unwound
                                                                                      : nullptr;
  if (u && u->user_frame) return *u->user_frame;
  const Frame* found = nullptr;
  for (const Frame& f : fs)
    if (is_user_code(f.loc)) {
      found = &f;
      break;
    }
  if (u) u->user_frame = found;
  return found;
}

const CodeLocation& Index::code(uint32_t pid, uint64_t pc) const {
  static const CodeLocation kNone;
  Symbolizer* s = symbolizer(pid);
  return s ? s->code(pc) : kNone;  // the symbolizer's cache: its entries never move
}

DataLocation Index::data(uint32_t pid, uint64_t addr) const {
  Symbolizer* s = symbolizer(pid);
  if (s) return s->data(addr);
  DataLocation d;
  d.region = "unknown";
  return d;
}

double Index::cost_share(double thread_s) const {
  const double total = total_thread_seconds();
  return total > 0 ? std::clamp(thread_s / total, 0.0, 1.0) : 0;
}

std::pair<uint32_t, uint64_t> Index::lock_key(uint32_t pid, uint64_t uaddr) const {
  const SharedObjects::Address c = shared.canonical(pid, uaddr);
  return {c.pid, c.addr};
}

const LockInfo* Index::lock(uint32_t pid, uint64_t uaddr) const {
  const auto [cpid, caddr] = lock_key(pid, uaddr);
  for (const auto& l : locks)
    if (l.pid == cpid && l.uaddr == caddr) return &l;
  return nullptr;
}

const LockHold* Index::lock_hold(uint32_t pid, uint64_t uaddr) const {
  for (const auto& h : lock_holds)
    if (h.pid == pid && h.lock == uaddr) return &h;
  return nullptr;
}

// ---- memory accesses -------------------------------------------------------------

namespace {

// Decodes every memory sample into a data access and builds the cache-line table.
// The code of a standard-library header compiled into the program itself: at -O0 a
// std::atomic member (compare_exchange_weak, fetch_add) is an out-of-line function
// whose source is <atomic>, and an access there means nothing to the user until it
// names the caller. Lock libraries are not: their own code is lock acquisition.
bool in_header_library_code(const CodeLocation& loc) {
  return !loc.in_system_library && !loc.file.empty() && is_library_frame(loc) && !is_lock_library_code(loc);
}

// When the access at `ip` is inside header library code, the call instruction in the
// program's own code that (through at most a few header frames) led there, following
// the frame-pointer chain that -O0 code keeps; 0 when `ip` is not such code or the
// chain leaves the sample's stack windows.
uint64_t caller_in_program(Symbolizer& sym, uint64_t ip, const model::MemorySample& m) {
  if (!in_header_library_code(sym.code(ip))) return 0;
  uint64_t bp = m.regs[kRbp];
  const uint64_t sp = m.regs[kRsp];
  for (int depth = 0; depth < 4; ++depth) {
    if (bp < sp || bp - sp > 4096) return 0;  // not a frame pointer of this stack
    const auto ret = stack_word(m, bp + 8), saved_bp = stack_word(m, bp);
    if (!ret || *ret == 0) return 0;
    const uint64_t call = *ret - 1;
    const CodeLocation& c = sym.code(call);
    if (c.function.empty()) return 0;
    if (!in_header_library_code(c)) return is_user_code(c) ? call : 0;
    if (!saved_bp || *saved_bp <= bp) return 0;
    bp = *saved_bp;
  }
  return 0;
}

// The callers of the function the access is sited in: those of the sampled function,
// or, when the access was sited at the program's call into header code, those above
// that call's level of the chain (none when the chain does not reach it).
void set_callers(MemoryAccess& a, uint64_t sampled_insn, const FrameCallers& chain) {
  size_t from = 0;
  if (a.insn_addr != sampled_insn) {
    from = chain.size();
    for (size_t k = 0; k < chain.size() && chain[k]; ++k)
      if (chain[k] - 1 == a.insn_addr) {
        from = k + 1;
        break;
      }
  }
  for (size_t i = 0; i < a.callers.size(); ++i) a.callers[i] = from + i < chain.size() ? chain[from + i] : 0;
}

void index_memory(Index& idx) {
  const Recording& rec = idx.rec;
  MemoryIndex& mem = idx.memory;
  mem.period_s = rec.memory_sampler.period_ns / 1e9;
  mem.samples = rec.memory_samples.size();
  std::map<uint32_t, std::unique_ptr<AccessDecoder>> decoders;
  std::map<uint32_t, std::unique_ptr<FrameCallerFinder>> caller_finders;
  size_t predecoded = 0, decoded_now = 0;
  for (const auto& m : rec.memory_samples) {
    ++mem.thread_samples[m.tid];
    Symbolizer* sym = idx.symbolizer(m.pid);
    AddressYield::Module& ym = mem.yield.module(sym, m.regs[kRip]);
    ++ym.samples;
    auto no_address = [&](const std::string& why) {
      ++mem.no_address[why];
      ++ym.no_address[why];
    };
    MemoryAccess a;
    int base_dwarf_reg = -1;  // decode mode: the access's instruction, base register and its value
    uint64_t base_value = 0, access_pc = 0;
    a.pid = m.pid;
    a.tid = m.tid;
    a.time_ns = m.time_ns;
    a.insn_addr = m.regs[kRip];
    if (m.pmu) {
      if (!m.data_addr) {
        no_address("pmu_no_address");
        continue;
      }
      model::DataSource ds = model::decode_data_src(m.data_src);
      a.data_addr = m.data_addr;
      a.hitm = model::is_contended_transfer(ds);
      a.size = 8;
      a.kind = ds.store ? AccessKind::kWrite : AccessKind::kRead;
      // The precise IP is the accessing instruction itself: its bytes give size and lock.
      std::vector<uint8_t> code;
      if (sym && sym->read_file_bytes(a.insn_addr, 15, code)) {
        DecodeResult r = decode_instruction_access(code.data(), code.size(), a.insn_addr, m.regs, m.fsbase, false);
        if (r.access) {
          a.size = r.access->size;
          if (r.access->kind != AccessKind::kRead && r.access->kind != AccessKind::kWrite) a.kind = r.access->kind;
        }
      }
      if (ds.locked && !is_locked(a.kind)) a.kind = AccessKind::kLockedRmw;
    } else {
      if (!sym) {
        no_address("no_process_maps");
        continue;
      }
      // A live profile's samples were decoded on the agent's drain thread (the same
      // decode on the same bytes, MemorySample::decoded); a saved recording's are
      // decoded here.
      DecodeResult fresh;
      if (!m.decoded) {
        auto& dec = decoders[m.pid];
        if (!dec) dec = std::make_unique<AccessDecoder>(*sym);
        fresh = dec->decode(m.regs[kRip], m.regs, m.fsbase, &m.stack_windows);
        ++decoded_now;
      }
      const SampleDecode& r = m.decoded ? *m.decoded : fresh;
      predecoded += m.decoded.has_value();
      if (r.eh_frame_bounds) ++ym.eh_frame_bounds;
      if (!r.access) {
        no_address(decode_failure_name(r.failure));
        continue;
      }
      if (r.recovery != DecodeRecovery::kNone) {
        ++mem.yield.recovered[decode_recovery_name(r.recovery)];
        ++ym.recovered[decode_recovery_name(r.recovery)];
      }
      a.insn_addr = r.access->insn_addr;
      a.data_addr = r.access->data_addr;
      base_dwarf_reg = r.access->base_dwarf_reg;
      base_value = r.access->base_value;
      access_pc = r.access->insn_addr;
      a.size = r.access->size;
      a.kind = r.access->kind;
      // Who called the accessing function (frame pointers only): what the critical
      // section rules need to see a callee's accesses inside its caller's section.
      auto& finder = caller_finders[m.pid];
      if (!finder) finder = std::make_unique<FrameCallerFinder>(*sym);
      const FrameCallers callers = finder->callers(a.insn_addr, m);
      const uint64_t sampled_insn = a.insn_addr;
      if (const uint64_t call = caller_in_program(*sym, a.insn_addr, m)) {
        a.insn_addr = call;
        ++mem.yield.sited_at_caller;
      }
      set_callers(a, sampled_insn, callers);
      if (a.callers[0]) ++mem.with_frame_callers;
      const uint64_t sp = m.regs[kRsp];
      if (r.access->fs_relative ||
          (a.data_addr + 128 >= sp && a.data_addr < sp + thresholds::kStackWindowBytes)) {
        ++ym.with_address;
        ++mem.with_address;
        ++mem.private_stack_or_tls;  // the thread's own stack or TLS: private by construction
        continue;
      }
    }
    // Memory several processes of the program share: one line whichever process
    // touched it, at the canonical process's address (shared_objects.h).
    const SharedObjects::Address canonical = idx.shared.canonical(a.pid, a.data_addr);
    // An object is at most this far past the pointer the code reached it through
    // (larger offsets are an array index or an unrelated base; not named).
    constexpr uint64_t kMaxPointeeOffset = 1 << 20;
    if (base_dwarf_reg >= 0 && sym && a.data_addr >= base_value && a.data_addr - base_value < kMaxPointeeOffset) {
      // Heap (or any non-global) data: the type of the pointer it was reached through.
      const auto key = std::make_pair(canonical.pid, canonical.addr);
      const SampleFrame frame{&m.regs, [&m](uint64_t addr) { return stack_word(m, addr); }};
      if (!mem.typed_names.count(key) && sym->data(a.data_addr).region != "global")
        if (std::string n = pointee_member_name(*sym, access_pc, base_dwarf_reg, a.data_addr - base_value, &frame,
                                                base_value);
            !n.empty())
          mem.typed_names.emplace(key, std::move(n));
    }
    a.pid = canonical.pid;
    a.data_addr = canonical.addr;
    ++ym.with_address;
    ++mem.with_address;
    mem.lines.add(a);
    mem.accesses.push_back(a);
  }
  for (const auto& [why, n] : mem.no_address) idx.losses[absl::StrCat("sampler.no_address.", why)] += n;
  spdlog::debug("memory samples: {} with a data address, {} with their callers from frame pointers; "
                "{} decoded while profiling, {} decoded now",
                mem.with_address, mem.with_frame_callers, predecoded, decoded_now);
}

}  // namespace

std::unique_ptr<Index> build_index(const Recording& rec) {
  PhaseTimes cpu;
  auto idx = std::make_unique<Index>(rec);
  idx->locks = build_lock_table(*idx);
  cpu.mark("locks");
  idx->lock_rates = build_lock_rates(*idx);
  idx->lock_holds = build_lock_holds(*idx);
  cpu.mark("lock rates and holds");
  index_memory(*idx);
  cpu.mark("memory");
  // A library's internal lock costs its waiters their spinning in the library too.
  charge_library_lock_cpu(*idx);
  // Lock libraries' spinning yields are waiting too (lock_yields.h); after the memory
  // samples, which tell the lock a library's acquisition code spun on.
  charge_lock_yields(*idx);
  cpu.mark("library spinning");
  // Spin locks the program wrote itself: seen only by the memory samples of their code.
  add_program_spin_locks(*idx);
  cpu.mark("program spin locks");
  spdlog::debug("index CPU: {}", cpu.summary());
  return idx;
}

}  // namespace ccprof::profiler
