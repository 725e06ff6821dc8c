#pragma once
// PMU mode: raw perf sample records (PERF_RECORD_SAMPLE, laid out per the event's
// sample_type as documented in linux/perf_event.h) and the data source of a
// memory sample (union perf_mem_data_src).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ccprof::model {

struct PmuSample {
  uint64_t ip = 0;
  uint32_t pid = 0, tid = 0;
  uint64_t time = 0;
  uint64_t addr = 0;       // PERF_SAMPLE_ADDR: the data address
  uint64_t id = 0, stream_id = 0;
  uint32_t cpu = 0;
  uint64_t period = 0;
  uint64_t weight = 0;     // PERF_SAMPLE_WEIGHT, or WEIGHT_STRUCT's var1 (latency)
  uint64_t data_src = 0;
  uint64_t transaction = 0;
  uint64_t phys_addr = 0;
};

// Parses one record: `rec` starts at its perf_event_header and holds `len` bytes.
// Sample types that carry variable-length parts ccprof never asks for (READ with
// groups, BRANCH_STACK, REGS_*, STACK_USER, AUX) are rejected.
absl::StatusOr<PmuSample> parse_sample_record(const uint8_t* rec, size_t len, uint64_t sample_type);

// The decoded perf_mem_data_src.
struct DataSource {
  bool load = false, store = false, prefetch = false, exec = false;
  bool locked = false;      // mem_lock: a locked access
  bool hitm = false;        // snoop hit a modified line in another core's cache
  bool snoop_hit = false, snoop_miss = false;
  bool peer = false;        // snoopx: transferred from a peer cache (AMD/Intel newer)
  bool remote = false;      // another node/socket
  int hops = 0;             // mem_hops (0 = not given)
  std::string level;        // "L1", "L2", "L3", "LFB", "RAM", "remote cache", ... or "" when not given
  bool tlb_miss = false;
};
DataSource decode_data_src(uint64_t data_src);
// A contention event: HITM, or a transfer from a peer cache (which is what AMD
// reports instead of HITM for a line modified in another core).
inline bool is_contended_transfer(const DataSource& d) { return d.hitm || d.peer; }

}  // namespace ccprof::model
