#pragma once
// The cache-line table: line -> offset -> thread, with reads, writes, read-modify-
// writes (locked or not), CAS, HITMs, the instructions that made the accesses and
// when each thread was first and last seen. Both sampler modes feed it.
#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "profiler/decode_access.h"

namespace ccprof::profiler {

inline constexpr uint64_t kCacheLineBytes = 64;

// One sampled data access, resolved (decode mode) or reported (PMU mode).
struct MemoryAccess {
  uint32_t pid = 0, tid = 0;
  uint64_t time_ns = 0;
  uint64_t insn_addr = 0, data_addr = 0;
  uint32_t size = 0;
  AccessKind kind = AccessKind::kRead;
  bool hitm = false;
  // Return addresses in the callers of the function insn_addr is in, innermost first,
  // from the checked frame-pointer chain (profiler/frame_callers.h); 0 = not known
  // (no frame pointers, PMU mode).
  std::array<uint64_t, 2> callers{};
};

struct AccessCounts {
  uint64_t reads = 0, writes = 0, rmws = 0, locked = 0, cas = 0, hitm = 0;
  uint64_t first_ns = 0, last_ns = 0;
  uint64_t samples() const { return reads + writes + rmws + locked + cas; }
  uint64_t stores() const { return writes + rmws + locked + cas; }  // accesses that write
  void add(const MemoryAccess& a);
};

struct InstructionCounts {
  AccessKind kind = AccessKind::kRead;
  uint64_t count = 0;
};

struct OffsetStats {
  uint32_t offset = 0;
  uint32_t size = 0;  // widest access seen at this offset
  AccessCounts total;
  std::map<uint32_t, AccessCounts> threads;          // by tid
  std::map<uint64_t, InstructionCounts> instructions;  // by instruction address
};

struct CacheLine {
  uint32_t pid = 0;
  uint64_t address = 0;  // 64-byte aligned
  AccessCounts total;
  std::map<uint32_t, OffsetStats> offsets;  // by offset in the line
  std::map<uint32_t, AccessCounts> threads;  // by tid
};

class CacheLineTable {
 public:
  void add(const MemoryAccess& a);
  const std::map<std::pair<uint32_t, uint64_t>, CacheLine>& lines() const { return lines_; }
  // Lines by samples, most first.
  std::vector<const CacheLine*> by_samples() const;
  uint64_t accesses() const { return accesses_; }

 private:
  std::map<std::pair<uint32_t, uint64_t>, CacheLine> lines_;  // (pid, line address)
  uint64_t accesses_ = 0;
};

// Byte ranges [offset, offset + size) a thread touched in a line, written or any.
struct ThreadFootprint {
  uint64_t written = 0;   // bit i: byte i of the line was written
  uint64_t accessed = 0;  // bit i: byte i was read or written
};
std::map<uint32_t, ThreadFootprint> footprints(const CacheLine& line);

}  // namespace ccprof::profiler
