// The holders' flame graph from recorded (synthetic) data: real stacks of this process
// copied the way the lockrate collector copies them, sampled holds naming them, and what
// the analysis makes of them (aggregation by stack weighted by hold time, the report
// table, the finding's hold evidence), plus the samples' round trip through the file.
#include "profiler/holder_stacks.h"

#include <gtest/gtest.h>

#include "profiler/index.h"
#include "profiler/lock_holds.h"
#include "profiler/text.h"
#include "tests/unit/recording_util.h"
#include "tests/unit/stack_capture.h"

namespace ccprof::profiler {
namespace {

model::StackCopy g_flush_stack, g_lookup_stack;

// Two different holders' paths: where the test "acquired the lock".
__attribute__((noinline)) void acquire_in_flush() {
  ucontext_t uc;
  getcontext(&uc);
  g_flush_stack = stack_copy_from(uc);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void acquire_in_lookup() {
  ucontext_t uc;
  getcontext(&uc);
  g_lookup_stack = stack_copy_from(uc);
  asm volatile("" ::: "memory");
}

constexpr uint64_t kLock = 0x5000, kOtherLock = 0x6000;

// This process (its real maps, so the stacks unwind and symbolize), one mutex timed for
// 1 s of windows, and sampled holds: 3 of 2 ms taken in acquire_in_flush, 10 of 10 µs in
// acquire_in_lookup; one hold of the other mutex; one sample whose copy never arrived.
Recording holders_recording(bool with_samples) {
  acquire_in_flush();
  acquire_in_lookup();
  const uint32_t pid = g_flush_stack.pid;
  Recording r = model::two_second_recording({{g_flush_stack.tid, "worker"}}, pid);
  auto maps = agent::read_maps(pid);
  EXPECT_TRUE(maps.ok());
  if (maps.ok()) r.processes[0].maps = *maps;
  r.has_lockhold = true;
  r.lockhold.window_s = 1.0;
  r.lockhold.windows = 50;
  r.lockhold.sites.push_back({pid, kLock, 0x1010, 13, 6'100'000, 2'000'000, 0, 0, {}});
  if (!with_samples) return r;
  r.stacks = {g_flush_stack, g_lookup_stack};
  for (int i = 0; i < 3; ++i) r.lockhold.samples.push_back({pid, g_flush_stack.tid, kLock, 0x1010, 2'000'000, 0});
  for (int i = 0; i < 10; ++i) r.lockhold.samples.push_back({pid, g_flush_stack.tid, kLock, 0x2020, 10'000, 1});
  r.lockhold.samples.push_back({pid, g_flush_stack.tid, kOtherLock, 0x3030, 5'000'000, 1});
  r.lockhold.samples.push_back({pid, g_flush_stack.tid, kLock, 0x1010, 9'000'000, -1});
  return r;
}

bool names(const std::vector<std::string>& frames, const std::string& fn) {
  for (const auto& f : frames)
    if (f.find(fn) != std::string::npos) return true;
  return false;
}

TEST(HolderStacks, EachSampledHoldIsChargedToItsStack) {
  Recording r = holders_recording(true);
  Index idx(r);
  LockHolders h = lock_holders(idx, r.processes[0].pid, kLock);
  // The sample without a copy is not charged; the other mutex's hold is not this one's.
  EXPECT_EQ(h.sampled_holds, 13u);
  EXPECT_NEAR(h.sampled_s, 3 * 2e-3 + 10 * 10e-6, 1e-12);
  ASSERT_EQ(h.stacks.size(), 2u);
  // By hold time, not by count: 3 long holds outweigh 10 short ones.
  EXPECT_TRUE(names(h.stacks[0].frames, "acquire_in_flush"));
  EXPECT_FALSE(names(h.stacks[0].frames, "acquire_in_lookup"));
  EXPECT_EQ(h.stacks[0].holds, 3u);
  EXPECT_NEAR(h.stacks[0].hold_s, 6e-3, 1e-12);
  EXPECT_TRUE(names(h.stacks[1].frames, "acquire_in_lookup"));
  EXPECT_EQ(h.stacks[1].holds, 10u);
  // Root first: the leaf (the acquiring function) is the last frame.
  EXPECT_NE(h.stacks[0].frames.back().find("acquire_in_flush"), std::string::npos);
  EXPECT_NE(h.stacks[0].leaf.function.find("acquire_in_flush"), std::string::npos) << h.stacks[0].leaf.function;
  EXPECT_EQ(short_file(h.stacks[0].leaf.file), "holder_stacks_test.cc");

  LockHolders other = lock_holders(idx, r.processes[0].pid, kOtherLock);
  ASSERT_EQ(other.stacks.size(), 1u);
  EXPECT_TRUE(names(other.stacks[0].frames, "acquire_in_lookup"));
}

TEST(HolderStacks, TableHasOneRowPerLockAndStack) {
  Recording r = holders_recording(true);
  Index idx(r);
  nlohmann::json t = holder_stacks_table(idx);
  ASSERT_EQ(t.size(), 3u);
  double lock_s = 0;
  for (const auto& row : t) {
    ASSERT_TRUE(row["frames"].is_array());
    EXPECT_FALSE(row["frames"].empty());
    if (row["lock"] == hex_address(kLock)) lock_s += row["hold_s"].get<double>();
  }
  EXPECT_NEAR(lock_s, 6.1e-3, 1e-12);
}

TEST(HolderStacks, FindingNamesTheTopHolderWhereItAddsToTheCallSite) {
  Recording r = holders_recording(true);
  auto idx_ptr = build_index(r);
  const Index& idx = *idx_ptr;
  Finding f;
  add_hold_evidence(f, idx, r.processes[0].pid, kLock);
  ASSERT_TRUE(f.evidence.contains("hold"));
  const auto& holders = f.evidence["hold"]["holders"];
  EXPECT_EQ(holders["sampled_holds"], 13);
  EXPECT_EQ(holders["stacks"], 2);
  EXPECT_NEAR(holders["top_stack_share"].get<double>(), 6e-3 / 6.1e-3, 1e-9);
  EXPECT_NE(holders["top_stack_user_frame"]["function"].get<std::string>().find("acquire_in_flush"), std::string::npos);
  // The recorded call site (0x1010) is no code of this process: the holder's frame adds to it.
  EXPECT_NE(f.explanation.find("The holding stack with the most sampled hold time"), std::string::npos) << f.explanation;
  EXPECT_NE(f.explanation.find("acquire_in_flush"), std::string::npos);
}

TEST(HolderStacks, SameSiteAsTheAcquiringCallIsNotSaidTwice) {
  Recording r = holders_recording(true);
  Index idx(r);
  LockHolders h = lock_holders(idx, r.processes[0].pid, kLock);
  ASSERT_FALSE(h.stacks.empty());
  Finding f;
  f.evidence["hold"] = nlohmann::json::object();
  add_holder_evidence(f, idx, r.processes[0].pid, kLock, &h.stacks[0].leaf);
  EXPECT_TRUE(f.evidence["hold"].contains("holders"));
  EXPECT_EQ(f.explanation, "");
}

TEST(HolderStacks, NoSamplesNoHolders) {
  Recording r = holders_recording(false);
  auto idx_ptr = build_index(r);
  const Index& idx = *idx_ptr;
  EXPECT_TRUE(lock_holders(idx, r.processes[0].pid, kLock).stacks.empty());
  EXPECT_TRUE(holder_stacks_table(idx).empty());
  Finding f;
  add_hold_evidence(f, idx, r.processes[0].pid, kLock);
  ASSERT_TRUE(f.evidence.contains("hold"));
  EXPECT_FALSE(f.evidence["hold"].contains("holders"));
  EXPECT_EQ(f.explanation.find("holding stack"), std::string::npos);
}

TEST(HolderStacks, SamplesRoundTripThroughTheRecordingFile) {
  Recording r = holders_recording(true);
  auto back = model::round_trip(r, "holder_stacks");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->lockhold.samples.size(), r.lockhold.samples.size());
  EXPECT_EQ(back->lockhold.samples[0].hold_ns, 2'000'000u);
  EXPECT_EQ(back->lockhold.samples[3].stack, 1);
  EXPECT_EQ(back->lockhold.samples.back().stack, -1);

  // A sample naming a stack the recording does not have is a corrupt recording.
  Recording bad = holders_recording(true);
  bad.lockhold.samples[0].stack = 7;
  EXPECT_FALSE(model::round_trip(bad, "holder_stacks_bad").ok());
}

}  // namespace
}  // namespace ccprof::profiler
