#include "model/pmu_record.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include <linux/perf_event.h>

#include <cstring>
#include <vector>

namespace ccprof::model {
namespace {

// Builds a PERF_RECORD_SAMPLE byte by byte, in the order linux/perf_event.h lists
// the fields.
class RecordBuilder {
 public:
  RecordBuilder& u64(uint64_t v) {
    put(&v, 8);
    return *this;
  }
  RecordBuilder& u32x2(uint32_t a, uint32_t b) {
    put(&a, 4);
    put(&b, 4);
    return *this;
  }
  RecordBuilder& bytes(const void* p, size_t n) {
    put(p, n);
    return *this;
  }
  std::vector<uint8_t> build(uint16_t type = PERF_RECORD_SAMPLE) const {
    perf_event_header h{};
    h.type = type;
    h.misc = PERF_RECORD_MISC_USER;
    h.size = static_cast<uint16_t>(sizeof h + body_.size());
    std::vector<uint8_t> out(sizeof h);
    memcpy(out.data(), &h, sizeof h);
    out.insert(out.end(), body_.begin(), body_.end());
    return out;
  }

 private:
  void put(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    body_.insert(body_.end(), b, b + n);
  }
  std::vector<uint8_t> body_;
};

constexpr uint64_t kMemSampleType = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR |
                                    PERF_SAMPLE_CPU | PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC;

// data_src of an Intel PEBS load that hit a modified line in another core's L2
// (what `perf c2c` counts as a local HITM): op=LOAD, lvl=HIT|L3, snoop=HITM, lvlnum=L3.
constexpr uint64_t kLocalHitmLoad =
    (uint64_t{PERF_MEM_OP_LOAD} << PERF_MEM_OP_SHIFT) |
    (uint64_t{PERF_MEM_LVL_HIT | PERF_MEM_LVL_L3} << PERF_MEM_LVL_SHIFT) |
    (uint64_t{PERF_MEM_SNOOP_HITM} << PERF_MEM_SNOOP_SHIFT) |
    (uint64_t{PERF_MEM_LVLNUM_L3} << PERF_MEM_LVLNUM_SHIFT);
// A store that hit L1 (PEBS stores report L1 hit or miss only).
constexpr uint64_t kL1Store = (uint64_t{PERF_MEM_OP_STORE} << PERF_MEM_OP_SHIFT) |
                              (uint64_t{PERF_MEM_LVL_HIT | PERF_MEM_LVL_L1} << PERF_MEM_LVL_SHIFT);
// AMD IBS: a locked load served by a peer core's cache on a remote node (snoopx PEER,
// remote bit, 2 hops): AMD's equivalent of a remote HITM.
constexpr uint64_t kAmdPeerRemoteLocked =
    (uint64_t{PERF_MEM_OP_LOAD} << PERF_MEM_OP_SHIFT) | (uint64_t{PERF_MEM_LOCK_LOCKED} << PERF_MEM_LOCK_SHIFT) |
    (uint64_t{PERF_MEM_LVLNUM_ANY_CACHE} << PERF_MEM_LVLNUM_SHIFT) |
    (uint64_t{PERF_MEM_REMOTE_REMOTE} << PERF_MEM_REMOTE_SHIFT) |
    (uint64_t{PERF_MEM_SNOOPX_PEER} << PERF_MEM_SNOOPX_SHIFT) | (uint64_t{PERF_MEM_HOPS_1} << PERF_MEM_HOPS_SHIFT);

// The sample a well-formed record parses to; a parse error fails the test.
PmuSample parsed(const std::vector<uint8_t>& rec, uint64_t sample_type) {
  auto s = parse_sample_record(rec.data(), rec.size(), sample_type);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : PmuSample{};
}

TEST(PmuRecord, ParsesAMemorySampleInKernelOrder) {
  auto rec = RecordBuilder()
                 .u64(0x401b10)                // ip
                 .u32x2(4242, 4243)            // pid, tid
                 .u64(123456789)               // time
                 .u64(0x55d1c0a04088)          // addr
                 .u32x2(1, 0)                  // cpu, res
                 .u64(87)                      // weight
                 .u64(kLocalHitmLoad)          // data_src
                 .build();
  const PmuSample s = parsed(rec, kMemSampleType);
  EXPECT_EQ(s.ip, 0x401b10u);
  EXPECT_EQ(s.pid, 4242u);
  EXPECT_EQ(s.tid, 4243u);
  EXPECT_EQ(s.time, 123456789u);
  EXPECT_EQ(s.addr, 0x55d1c0a04088u);
  EXPECT_EQ(s.cpu, 1u);
  EXPECT_EQ(s.weight, 87u);
  EXPECT_EQ(s.data_src, kLocalHitmLoad);
}

TEST(PmuRecord, WeightStructTakesTheLatencyWord) {
  uint64_t st = PERF_SAMPLE_IP | PERF_SAMPLE_WEIGHT_STRUCT | PERF_SAMPLE_DATA_SRC;
  uint64_t weight = (uint64_t{7} << 32) | 250;  // var2/var3 = 7, var1 (latency) = 250
  auto rec = RecordBuilder().u64(0x1000).u64(weight).u64(kL1Store).build();
  const PmuSample s = parsed(rec, st);
  EXPECT_EQ(s.weight, 250u);
  EXPECT_EQ(s.data_src, kL1Store);
}

TEST(PmuRecord, SkipsCallchainAndRaw) {
  uint64_t st = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_RAW | PERF_SAMPLE_ADDR;
  uint8_t raw[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // 4 + 12 = 16: 8-aligned
  uint32_t raw_size = sizeof raw;
  // ADDR comes before CALLCHAIN, RAW after it.
  auto rec = RecordBuilder()
            .u64(77)
            .u64(0x2000)
            .u64(0xdead0)  // addr
            .u64(2).u64(0xffffffff81000000).u64(0x2000)
            .bytes(&raw_size, 4).bytes(raw, sizeof raw)
            .build();
  const PmuSample s = parsed(rec, st);
  EXPECT_EQ(s.id, 77u);
  EXPECT_EQ(s.ip, 0x2000u);
  EXPECT_EQ(s.addr, 0xdead0u);
}

TEST(PmuRecord, RejectsTruncatedForeignAndUnsupportedRecords) {
  auto rec = RecordBuilder().u64(0x401b10).u32x2(1, 2).build();
  // Says ADDR is there, but the record ends after TID.
  EXPECT_FALSE(parse_sample_record(rec.data(), rec.size(), PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_ADDR).ok());
  // Shorter than its own header's size.
  EXPECT_FALSE(parse_sample_record(rec.data(), rec.size() - 1, PERF_SAMPLE_IP | PERF_SAMPLE_TID).ok());
  auto lost = RecordBuilder().u64(1).u64(5).build(PERF_RECORD_LOST);
  EXPECT_FALSE(parse_sample_record(lost.data(), lost.size(), PERF_SAMPLE_IP).ok());
  EXPECT_EQ(parse_sample_record(rec.data(), rec.size(), PERF_SAMPLE_IP | PERF_SAMPLE_REGS_USER).status().code(),
            absl::StatusCode::kUnimplemented);
}

// Every field of a decoded data source, in one line: the flags that are set, then the
// level and hops, then whether it counts as contention.
std::string summary(const DataSource& d) {
  std::string out;
  for (auto [set, name] : {std::pair{d.load, "load"}, {d.store, "store"}, {d.prefetch, "prefetch"}, {d.exec, "exec"},
                           {d.locked, "locked"}, {d.hitm, "hitm"}, {d.snoop_hit, "snoop-hit"},
                           {d.snoop_miss, "snoop-miss"}, {d.peer, "peer"}, {d.remote, "remote"},
                           {d.tlb_miss, "tlb-miss"}})
    if (set) absl::StrAppend(&out, name, " ");
  absl::StrAppend(&out, "level=", d.level, " hops=", d.hops, is_contended_transfer(d) ? " contended" : "");
  return out;
}

TEST(DataSrc, DecodesEveryField) {
  // Older kernels: remote cache (1 hop) in mem_lvl, HITM in mem_snoop, no LVLNUM.
  const uint64_t old_remote_hitm = (uint64_t{PERF_MEM_OP_LOAD} << PERF_MEM_OP_SHIFT) |
                                   (uint64_t{PERF_MEM_LVL_HIT | PERF_MEM_LVL_REM_CCE1} << PERF_MEM_LVL_SHIFT) |
                                   (uint64_t{PERF_MEM_SNOOP_HITM} << PERF_MEM_SNOOP_SHIFT);
  const std::pair<uint64_t, std::string> cases[] = {
      {kLocalHitmLoad, "load hitm level=L3 hops=0 contended"},
      {kL1Store, "store level=L1 hops=0"},  // a store that hits L1 is no contention
      // AMD: a locked load served by a peer cache on another node is contention, without HITM.
      // hops is the raw mem_hops field: PERF_MEM_HOPS_1 (one hop) is 2.
      {kAmdPeerRemoteLocked, "load locked peer remote level=cache hops=2 contended"},
      {old_remote_hitm, "load hitm remote level=remote cache hops=0 contended"},
  };
  for (const auto& [src, want] : cases) EXPECT_EQ(summary(decode_data_src(src)), want) << std::hex << src;
}

}  // namespace
}  // namespace ccprof::model
