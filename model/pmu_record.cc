#include "model/pmu_record.h"

#include <linux/perf_event.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ccprof::model {
namespace {

class Reader {
 public:
  Reader(const uint8_t* p, size_t len) : p_(p), len_(len) {}
  bool u64(uint64_t* v) {
    if (pos_ + 8 > len_) return false;
    memcpy(v, p_ + pos_, 8);
    pos_ += 8;
    return true;
  }
  bool u32pair(uint32_t* a, uint32_t* b) {
    if (pos_ + 8 > len_) return false;
    memcpy(a, p_ + pos_, 4);
    memcpy(b, p_ + pos_ + 4, 4);
    pos_ += 8;
    return true;
  }
  bool u32(uint32_t* v) {
    if (pos_ + 4 > len_) return false;
    memcpy(v, p_ + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool skip(size_t n) {
    if (pos_ + n > len_) return false;
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* p_;
  size_t len_, pos_ = 0;
};

}  // namespace

absl::StatusOr<PmuSample> parse_sample_record(const uint8_t* rec, size_t len, uint64_t st) {
  if (len < sizeof(perf_event_header)) return absl::InvalidArgumentError("perf record shorter than its header");
  perf_event_header h;
  memcpy(&h, rec, sizeof h);
  if (h.type != PERF_RECORD_SAMPLE)
    return absl::InvalidArgumentError(absl::StrFormat("perf record type %d is not a sample", h.type));
  if (h.size > len || h.size < sizeof h)
    return absl::InvalidArgumentError(absl::StrFormat("perf sample claims %d bytes, %d available", h.size, len));
  constexpr uint64_t kUnsupported = PERF_SAMPLE_READ | PERF_SAMPLE_BRANCH_STACK | PERF_SAMPLE_REGS_USER |
                                    PERF_SAMPLE_STACK_USER | PERF_SAMPLE_REGS_INTR | PERF_SAMPLE_AUX;
  if (st & kUnsupported)
    return absl::UnimplementedError(absl::StrFormat("sample_type 0x%x has fields ccprof does not parse", st & kUnsupported));
  Reader r(rec + sizeof h, h.size - sizeof h);
  PmuSample s;
  uint64_t v = 0;
  auto need = [](bool ok, const char* what) -> absl::Status {
    return ok ? absl::OkStatus() : absl::InvalidArgumentError(absl::StrCat("perf sample truncated at ", what));
  };
#define CCPROF_READ(flag, expr, what) \
  if (st & (flag)) {                  \
    auto s_ = need((expr), what);     \
    if (!s_.ok()) return s_;          \
  }
  CCPROF_READ(PERF_SAMPLE_IDENTIFIER, r.u64(&s.id), "identifier");
  CCPROF_READ(PERF_SAMPLE_IP, r.u64(&s.ip), "ip");
  CCPROF_READ(PERF_SAMPLE_TID, r.u32pair(&s.pid, &s.tid), "tid");
  CCPROF_READ(PERF_SAMPLE_TIME, r.u64(&s.time), "time");
  CCPROF_READ(PERF_SAMPLE_ADDR, r.u64(&s.addr), "addr");
  CCPROF_READ(PERF_SAMPLE_ID, r.u64(&s.id), "id");
  CCPROF_READ(PERF_SAMPLE_STREAM_ID, r.u64(&s.stream_id), "stream_id");
  uint32_t res = 0;
  CCPROF_READ(PERF_SAMPLE_CPU, r.u32pair(&s.cpu, &res), "cpu");
  CCPROF_READ(PERF_SAMPLE_PERIOD, r.u64(&s.period), "period");
  if (st & PERF_SAMPLE_CALLCHAIN) {
    uint64_t nr = 0;
    if (!r.u64(&nr) || nr > (1u << 16) || !r.skip(nr * 8)) return absl::InvalidArgumentError("perf sample truncated at callchain");
  }
  if (st & PERF_SAMPLE_RAW) {
    // u32 size; char data[size]: the kernel pads data so that 4 + size is 8-aligned.
    uint32_t size = 0;
    if (!r.u32(&size) || !r.skip(size)) return absl::InvalidArgumentError("perf sample truncated at raw");
  }
  if (st & PERF_SAMPLE_WEIGHT_STRUCT) {
    // union { u64 full; struct { u32 var1_dw; u16 var2_w; u16 var3_w; } }: var1 is the latency.
    CCPROF_READ(PERF_SAMPLE_WEIGHT_STRUCT, r.u64(&v), "weight");
    s.weight = v & 0xffffffffu;
  } else {
    CCPROF_READ(PERF_SAMPLE_WEIGHT, r.u64(&s.weight), "weight");
  }
  CCPROF_READ(PERF_SAMPLE_DATA_SRC, r.u64(&s.data_src), "data_src");
  CCPROF_READ(PERF_SAMPLE_TRANSACTION, r.u64(&s.transaction), "transaction");
  CCPROF_READ(PERF_SAMPLE_PHYS_ADDR, r.u64(&s.phys_addr), "phys_addr");
#undef CCPROF_READ
  return s;
}

DataSource decode_data_src(uint64_t v) {
  DataSource d;
  const uint64_t op = (v >> PERF_MEM_OP_SHIFT) & 0x1f;
  const uint64_t lvl = (v >> PERF_MEM_LVL_SHIFT) & 0x3fff;
  const uint64_t snoop = (v >> PERF_MEM_SNOOP_SHIFT) & 0x1f;
  const uint64_t lock = (v >> PERF_MEM_LOCK_SHIFT) & 0x3;
  const uint64_t dtlb = (v >> PERF_MEM_TLB_SHIFT) & 0x7f;
  const uint64_t lvlnum = (v >> PERF_MEM_LVLNUM_SHIFT) & 0xf;
  const uint64_t remote = (v >> PERF_MEM_REMOTE_SHIFT) & 0x1;
  const uint64_t snoopx = (v >> PERF_MEM_SNOOPX_SHIFT) & 0x3;
  const uint64_t hops = (v >> PERF_MEM_HOPS_SHIFT) & 0x7;
  d.load = op & PERF_MEM_OP_LOAD;
  d.store = op & PERF_MEM_OP_STORE;
  d.prefetch = op & PERF_MEM_OP_PFETCH;
  d.exec = op & PERF_MEM_OP_EXEC;
  d.locked = lock & PERF_MEM_LOCK_LOCKED;
  d.hitm = snoop & PERF_MEM_SNOOP_HITM;
  d.snoop_hit = snoop & PERF_MEM_SNOOP_HIT;
  d.snoop_miss = snoop & PERF_MEM_SNOOP_MISS;
  d.peer = snoopx & PERF_MEM_SNOOPX_PEER;
  d.remote = remote || (lvl & (PERF_MEM_LVL_REM_RAM1 | PERF_MEM_LVL_REM_RAM2 | PERF_MEM_LVL_REM_CCE1 |
                                PERF_MEM_LVL_REM_CCE2));
  d.hops = static_cast<int>(hops);
  d.tlb_miss = dtlb & PERF_MEM_TLB_MISS;
  // The level: the newer LVLNUM field first, the older bit mask otherwise.
  switch (lvlnum) {
    case PERF_MEM_LVLNUM_L1: d.level = "L1"; break;
    case PERF_MEM_LVLNUM_L2: d.level = "L2"; break;
    case PERF_MEM_LVLNUM_L3: d.level = "L3"; break;
    case PERF_MEM_LVLNUM_L4: d.level = "L4"; break;
    case PERF_MEM_LVLNUM_ANY_CACHE: d.level = "cache"; break;
    case PERF_MEM_LVLNUM_LFB: d.level = "LFB"; break;
    case PERF_MEM_LVLNUM_RAM: d.level = "RAM"; break;
    case PERF_MEM_LVLNUM_PMEM: d.level = "PMEM"; break;
    case PERF_MEM_LVLNUM_IO: d.level = "I/O"; break;
    default: break;
  }
  if (d.level.empty()) {
    if (lvl & PERF_MEM_LVL_L1) d.level = "L1";
    else if (lvl & PERF_MEM_LVL_LFB) d.level = "LFB";
    else if (lvl & PERF_MEM_LVL_L2) d.level = "L2";
    else if (lvl & PERF_MEM_LVL_L3) d.level = "L3";
    else if (lvl & PERF_MEM_LVL_LOC_RAM) d.level = "RAM";
    else if (lvl & (PERF_MEM_LVL_REM_RAM1 | PERF_MEM_LVL_REM_RAM2)) d.level = "remote RAM";
    else if (lvl & (PERF_MEM_LVL_REM_CCE1 | PERF_MEM_LVL_REM_CCE2)) d.level = "remote cache";
    else if (lvl & PERF_MEM_LVL_IO) d.level = "I/O";
    else if (lvl & PERF_MEM_LVL_UNC) d.level = "uncached";
  }
  return d;
}

}  // namespace ccprof::model
