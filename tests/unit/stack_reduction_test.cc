// The agent's drain-time reduction (agent/stack_reduction.cc) with the profiler's
// reducer (profiler/online_reducer.cc) on a stack copy recorded from this very process:
// unwound into addresses, deduplicated, raw bytes dropped, and symbolized by the index
// exactly as an offline unwind of the raw copy is.
#include "agent/stack_reduction.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/proc.h"
#include "profiler/index.h"
#include "profiler/online_reducer.h"
#include "tests/unit/recording_util.h"
#include "tests/unit/stack_capture.h"

namespace ccprof::agent {
namespace {

using model::Recording;
using model::StackCopy;

__attribute__((noinline)) void reduction_outer_frame() {
  profiler::middle_frame();
  asm volatile("" ::: "memory");
}

Recording recording_of_this_process(bool with_maps) {
  Recording rec;
  model::ProcessInfo p;
  p.pid = static_cast<uint32_t>(getpid());
  if (with_maps) {
    auto maps = read_maps(p.pid);
    if (maps.ok()) p.maps = *maps;
  }
  rec.processes.push_back(p);
  return rec;
}

std::string names(const std::vector<profiler::Frame>& frames) {
  std::string all;
  for (const auto& f : frames) all += f.loc.function + " <- ";
  return all;
}

TEST(StackReduction, UnwindsDeduplicatesAndDropsTheRawBytes) {
  reduction_outer_frame();
  const StackCopy raw = profiler::g_captured;
  ASSERT_FALSE(raw.stack.empty());
  Recording rec = recording_of_this_process(true);
  rec.stacks = {raw, raw};  // the same wait stack twice
  StackReduction reduction(profiler::make_online_reducer(), /*keep_stack_bytes=*/false);
  reduction.reduce(rec, /*final=*/false);
  ASSERT_EQ(rec.stack_frames.size(), 1u);
  for (const auto& s : rec.stacks) {
    EXPECT_EQ(s.frames, 0);
    EXPECT_TRUE(s.stack.empty());
    EXPECT_EQ(s.regs, model::UserRegs{});
  }
  EXPECT_EQ(reduction.stacks_unwound(), 2u);
  // The index reads the addresses and finds the same frames as an offline unwind of the
  // raw copy, symbols and all.
  profiler::Index idx(rec);
  const auto& online = idx.frames(0);
  Recording raw_rec = recording_of_this_process(true);
  raw_rec.stacks = {raw};
  profiler::Index raw_idx(raw_rec);
  const auto& offline = raw_idx.frames(0);
  ASSERT_GE(online.size(), 3u);
  // The offline unwind symbolizes between frames and here stops inside libc, whose last
  // frame it then does not name; the drain-time unwind (addresses first) goes on to _start.
  ASSERT_GE(online.size(), offline.size()) << names(online) << "\nvs\n" << names(offline);
  for (size_t i = 0; i < offline.size(); ++i) {
    EXPECT_EQ(online[i].pc, offline[i].pc) << i;
    EXPECT_EQ(online[i].lookup_pc, offline[i].lookup_pc) << i;
    if (!offline[i].loc.function.empty() && offline[i].loc.function.find("0x") != 0) {
      EXPECT_EQ(online[i].loc.function, offline[i].loc.function) << i;
    }
  }
  const std::string all = names(online);
  EXPECT_NE(all.find("capture_here"), std::string::npos) << all;
  EXPECT_NE(all.find("reduction_outer_frame"), std::string::npos) << all;
  // A new stack after the first call: a second list.
  StackCopy other = raw;
  other.regs[model::kRip] += 1;  // another IP in capture_here
  rec.stacks.push_back(other);
  reduction.reduce(rec, false);
  EXPECT_EQ(rec.stack_frames.size(), 2u);
  EXPECT_EQ(rec.stacks[2].frames, 1);
}

TEST(StackReduction, WaitsForTheMapsThatCoverTheStackThenUnwinds) {
  reduction_outer_frame();
  Recording rec = recording_of_this_process(false);  // no /proc snapshot yet
  rec.stacks = {profiler::g_captured};
  StackReduction reduction(profiler::make_online_reducer(), false);
  reduction.reduce(rec, false);
  EXPECT_EQ(rec.stacks[0].frames, -1);
  EXPECT_FALSE(rec.stacks[0].stack.empty()) << "dropped before its code was known";
  rec.processes[0].maps = *read_maps(rec.processes[0].pid);  // the next snapshot
  reduction.reduce(rec, false);
  ASSERT_EQ(rec.stacks[0].frames, 0);
  EXPECT_TRUE(rec.stacks[0].stack.empty());
  EXPECT_GE(rec.stack_frames[0].pcs.size(), 3u);
}

TEST(StackReduction, FinalCallDropsWhatNeverResolvedAndKeepBytesKeepsThem) {
  reduction_outer_frame();
  Recording rec = recording_of_this_process(false);
  rec.stacks = {profiler::g_captured};
  StackReduction dropping(profiler::make_online_reducer(), false);
  dropping.reduce(rec, /*final=*/true);
  ASSERT_EQ(rec.stacks[0].frames, 0);
  EXPECT_TRUE(rec.stacks[0].stack.empty());
  EXPECT_TRUE(rec.stack_frames[0].pcs.empty());
  EXPECT_FALSE(rec.stack_frames[0].stop.empty());

  Recording kept = recording_of_this_process(true);
  kept.stacks = {profiler::g_captured};
  StackReduction keeping(profiler::make_online_reducer(), /*keep_stack_bytes=*/true);
  keeping.reduce(kept, true);
  EXPECT_EQ(kept.stacks[0].frames, 0);
  EXPECT_EQ(kept.stacks[0].stack, profiler::g_captured.stack);
}

// Says which stack bytes "the decoder" reads: the reduction must keep exactly those.
class FixedReads : public model::TargetMemoryReducer {
 public:
  bool known = true;
  std::vector<std::pair<uint64_t, uint32_t>> reads;
  model::SampleDecode decode;
  bool unwind(const Recording&, const StackCopy&, model::StackFrames*) override { return true; }
  bool stack_reads(const Recording&, const model::MemorySample&, std::vector<std::pair<uint64_t, uint32_t>>* out,
                   model::SampleDecode* decoded) override {
    *out = reads;
    *decoded = decode;
    return known;
  }
};

TEST(StackReduction, MemorySamplesKeepOnlyTheStackBytesTheDecoderReads) {
  auto fixed = std::make_shared<FixedReads>();
  // Overlapping and adjacent reads merge; a read past the window is clipped to it.
  fixed->reads = {{0x1010, 8}, {0x1014, 8}, {0x10f8, 16}};
  fixed->decode.access = model::DecodedAccess{.insn_addr = 0x401000, .data_addr = 0x1018, .size = 8};
  fixed->decode.recovery = model::DecodeRecovery::kBaseFromStack;
  Recording rec;
  model::MemorySample m;
  m.pid = 1;
  std::vector<uint8_t> bytes(256);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  m.stack_windows = {{0x1000, bytes}};
  rec.memory_samples = {m, m};
  StackReduction reduction(fixed, false);
  reduction.reduce(rec, false);
  const auto& w = rec.memory_samples[0].stack_windows;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].addr, 0x1010u);
  EXPECT_EQ(w[0].bytes, std::vector<uint8_t>(bytes.begin() + 0x10, bytes.begin() + 0x1c));
  EXPECT_EQ(w[1].addr, 0x10f8u);
  EXPECT_EQ(w[1].bytes, std::vector<uint8_t>(bytes.begin() + 0xf8, bytes.end()));
  // What that decode found travels with the sample to the analysis.
  ASSERT_TRUE(rec.memory_samples[0].decoded);
  ASSERT_TRUE(rec.memory_samples[0].decoded->access);
  EXPECT_EQ(rec.memory_samples[0].decoded->access->data_addr, 0x1018u);
  EXPECT_EQ(rec.memory_samples[0].decoded->recovery, model::DecodeRecovery::kBaseFromStack);
  // An unknown process: kept until the final call, then dropped and counted.
  fixed->known = false;
  rec.memory_samples.push_back(m);
  reduction.reduce(rec, false);
  EXPECT_EQ(rec.memory_samples[2].stack_windows.size(), 1u);
  EXPECT_EQ(rec.losses.count("sampler.stack_window_unresolved"), 0u);
  reduction.reduce(rec, true);
  EXPECT_TRUE(rec.memory_samples[2].stack_windows.empty());
  EXPECT_FALSE(rec.memory_samples[2].decoded) << "not decoded: the analysis decodes it";
  EXPECT_EQ(rec.losses["sampler.stack_window_unresolved"], 1u);
}

// Never resolves: counts how often the agent asks.
class NeverMapped : public model::TargetMemoryReducer {
 public:
  int unwinds = 0;
  bool unwind(const Recording&, const StackCopy&, model::StackFrames*) override {
    ++unwinds;
    return false;
  }
  bool stack_reads(const Recording&, const model::MemorySample&, std::vector<std::pair<uint64_t, uint32_t>>*,
                   model::SampleDecode*) override {
    return false;
  }
};

TEST(StackReduction, PendingStacksAreRetriedOnlyWhenNewMapsAreRecorded) {
  auto never = std::make_shared<NeverMapped>();
  Recording rec = recording_of_this_process(false);
  rec.stacks.resize(1);
  StackReduction reduction(never, false);
  for (int drain = 0; drain < 5; ++drain) reduction.reduce(rec, false);
  EXPECT_EQ(never->unwinds, 1) << "retried on every drain without new maps";
  rec.processes[0].maps.push_back({0x1000, 0x2000, 0, "r-xp", "/bin/x", 1});
  reduction.reduce(rec, false);
  EXPECT_EQ(never->unwinds, 2);
  reduction.reduce(rec, true);  // the end: unwound with what is known
  EXPECT_EQ(never->unwinds, 3);
  EXPECT_EQ(rec.stacks[0].frames, 0);
}

TEST(StackReduction, MapsGenerationMovesWhenAnExecReplacesTheMapsWithAsMany) {
  Recording rec;
  rec.processes.push_back({});
  rec.processes[0].pid = 42;
  rec.processes[0].exe = "/usr/bin/ccprof";  // `ccprof run`'s held child, before its exec
  rec.processes[0].maps = {{0x1000, 0x2000, 0, "r-xp", "/usr/bin/ccprof", 1}};
  const size_t before = StackReduction::maps_generation(rec);
  EXPECT_EQ(StackReduction::maps_generation(rec), before);  // nothing moved
  // The exec: the snapshot clears the maps and records the new image's, as many of them.
  rec.processes[0].exe = "/work/target";
  rec.processes[0].maps = {{0x5000, 0x6000, 0, "r-xp", "/work/target", 2}};
  const size_t after_exec = StackReduction::maps_generation(rec);
  EXPECT_NE(after_exec, before);
  // An exec of the same executable: its first mapping moved (ASLR).
  rec.processes[0].maps = {{0x9000, 0xa000, 0, "r-xp", "/work/target", 2}};
  EXPECT_NE(StackReduction::maps_generation(rec), after_exec);
}

}  // namespace
}  // namespace ccprof::agent
