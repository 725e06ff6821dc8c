// Stacks as deduplicated frame lists (model/stack_frames.h) and the recording format
// that stores them: version 3 written and read, version 2 (raw stack bytes) still read.
#include "model/stack_frames.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "model/recording.h"
#include "tests/unit/recording_util.h"

namespace ccprof::model {
namespace {

StackFrames frames(std::vector<uint64_t> pcs, bool complete = true) {
  StackFrames f;
  f.pcs = std::move(pcs);
  f.activation = 1;
  f.complete = complete;
  if (!complete) f.stop = "no matching address range";
  return f;
}

TEST(StackFramesTable, StoresEachDistinctListOnce) {
  Recording rec;
  StackFramesTable table;
  EXPECT_EQ(table.intern(rec, frames({1, 2, 3})), 0);
  EXPECT_EQ(table.intern(rec, frames({1, 2, 4})), 1);
  EXPECT_EQ(table.intern(rec, frames({1, 2, 3})), 0);
  EXPECT_EQ(table.intern(rec, frames({1, 2, 3}, false)), 2);  // same addresses, stopped early
  StackFrames other_activation = frames({1, 2, 3});
  other_activation.activation = 3;
  EXPECT_EQ(table.intern(rec, other_activation), 3);
  EXPECT_EQ(rec.stack_frames.size(), 4u);
  // Lists already in the recording (another table filled it) are found too.
  StackFramesTable second;
  EXPECT_EQ(second.intern(rec, frames({1, 2, 4})), 1);
  EXPECT_EQ(rec.stack_frames.size(), 4u);
}

Recording with_unwound_stacks() {
  Recording r;
  r.ccprof_version = "test";
  r.mode = "run";
  r.processes.push_back({.pid = 42});
  StackFramesTable table;
  for (int i = 0; i < 3; ++i) {
    StackCopy s{.pid = 42, .tid = 43u + i, .time_ns = 1000u + i};
    s.frames = table.intern(r, frames({0x401000, 0x401234, 0x7f0000001000u + (i == 2 ? 1u : 0u)}, i != 2));
    r.stacks.push_back(s);
  }
  r.futex_waits.push_back({.uaddr = 0x5000, .pid = 42, .tid = 43, .stack = 2});
  return r;
}

TEST(StackFramesFormat, FrameListsAndNoRawBytesFromVersion3On) {
  Recording r = with_unwound_stacks();
  ASSERT_EQ(r.stack_frames.size(), 2u);
  const std::string data = encode_recording(r);
  uint32_t version = 0;
  memcpy(&version, data.data() + 8, 4);
  EXPECT_EQ(version, Recording::kFormatVersion);
  auto back = round_trip(r, "frames-v3");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->stacks.size(), 3u);
  ASSERT_EQ(back->stack_frames.size(), 2u);
  EXPECT_EQ(back->stacks[1].frames, 0);
  EXPECT_EQ(back->stacks[2].frames, 1);
  EXPECT_TRUE(back->stacks[0].stack.empty());
  EXPECT_EQ(back->stacks[2].tid, 45u);
  EXPECT_EQ(back->stack_frames, r.stack_frames);
  EXPECT_EQ(back->stack_frames[1].stop, "no matching address range");
  // A stack that names a list the file does not have is refused.
  r.stacks[0].frames = 7;
  const std::string path = temp_recording_path("frames-bad");
  ASSERT_TRUE(save_recording(r, path).ok());
  auto bad = load_recording(path);
  std::remove(path.c_str());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("frame list 7"), std::string::npos) << bad.status();
}

// The file a version-2 ccprof wrote: raw registers and stack bytes per copy, no frame
// lists, version 2 in the header.
void write_as_version_2(const Recording& r, const std::string& path) {
  auto j = nlohmann::json::from_cbor(recording_cbor(r));
  j.erase("stack_frames");
  for (auto& s : j["stacks"]) s.erase("frames");
  const std::vector<uint8_t> payload = nlohmann::json::to_cbor(j);
  std::ofstream(path, std::ios::binary)
      << recording_file_bytes(2, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
}

TEST(StackFramesFormat, Version2RecordingsWithRawBytesAreStillRead) {
  Recording r;
  r.ccprof_version = "old";
  r.mode = "attach";
  StackCopy s{.pid = 42, .tid = 43};
  s.regs[kRip] = 0x401000;
  s.regs[kRsp] = 0x7fff0000;
  s.stack = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  r.stacks.push_back(s);
  const std::string path = temp_recording_path("frames-v2");
  write_as_version_2(r, path);
  auto back = load_recording(path);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->stacks.size(), 1u);
  EXPECT_EQ(back->stacks[0].frames, -1);  // the analysis unwinds the bytes
  EXPECT_EQ(back->stacks[0].stack, s.stack);
  EXPECT_EQ(back->stacks[0].regs[kRip], 0x401000u);
  EXPECT_TRUE(back->stack_frames.empty());
  // Versions this ccprof does not know are refused with both ends of what it reads.
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (uint32_t v : {1u, Recording::kFormatVersion + 1}) {
    memcpy(data.data() + 8, &v, 4);
    std::ofstream(path, std::ios::binary) << data;
    auto refused = load_recording(path);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find(absl::StrCat("reads versions 2 to ", Recording::kFormatVersion)), std::string::npos) << refused.status();
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ccprof::model
