#include "profiler/cacheline_table.h"

#include <algorithm>

namespace ccprof::profiler {

void AccessCounts::add(const MemoryAccess& a) {
  switch (a.kind) {
    case AccessKind::kRead: ++reads; break;
    case AccessKind::kWrite: ++writes; break;
    case AccessKind::kRmw: ++rmws; break;
    case AccessKind::kLockedRmw: ++locked; break;
    case AccessKind::kCas: ++cas; break;
  }
  if (a.hitm) ++hitm;
  if (first_ns == 0 || a.time_ns < first_ns) first_ns = a.time_ns;
  last_ns = std::max(last_ns, a.time_ns);
}

void CacheLineTable::add(const MemoryAccess& a) {
  // An access that straddles two lines is counted on the line it starts in.
  const uint64_t line_addr = a.data_addr & ~(kCacheLineBytes - 1);
  CacheLine& line = lines_[{a.pid, line_addr}];
  line.pid = a.pid;
  line.address = line_addr;
  line.total.add(a);
  line.threads[a.tid].add(a);
  const uint32_t off = static_cast<uint32_t>(a.data_addr - line_addr);
  OffsetStats& o = line.offsets[off];
  o.offset = off;
  o.size = std::max(o.size, a.size);
  o.total.add(a);
  o.threads[a.tid].add(a);
  InstructionCounts& ic = o.instructions[a.insn_addr];
  ic.kind = a.kind;
  ++ic.count;
  ++accesses_;
}

std::vector<const CacheLine*> CacheLineTable::by_samples() const {
  std::vector<const CacheLine*> out;
  for (const auto& [k, l] : lines_) out.push_back(&l);
  std::stable_sort(out.begin(), out.end(),
                   [](const CacheLine* a, const CacheLine* b) { return a->total.samples() > b->total.samples(); });
  return out;
}

std::map<uint32_t, ThreadFootprint> footprints(const CacheLine& line) {
  std::map<uint32_t, ThreadFootprint> out;
  for (const auto& [off, o] : line.offsets) {
    const uint32_t size = std::max<uint32_t>(1, o.size);
    const uint32_t end = std::min<uint32_t>(static_cast<uint32_t>(kCacheLineBytes), off + size);
    uint64_t mask = 0;
    for (uint32_t b = off; b < end; ++b) mask |= uint64_t{1} << b;
    for (const auto& [tid, c] : o.threads) {
      out[tid].accessed |= mask;
      if (c.stores()) out[tid].written |= mask;
    }
  }
  return out;
}

}  // namespace ccprof::profiler
