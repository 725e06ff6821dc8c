#include "profiler/python_reads.h"

#include <gtest/gtest.h>

#include "profiler/index.h"
#include "tests/unit/recording_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kMs = 1'000'000;

// Thread 1 read at [1000, 1100] ms (frame 0) and at 1200 ms (frame 1); thread 2 read
// at 1150 ms (frame 2); one read every 10 ms.
model::Recording python_recording() {
  model::Recording r = model::two_second_recording({{1, "hammer-0"}, {2, "hammer-1"}});
  r.has_python = true;
  r.python.processes.push_back({100, "/usr/bin/python3.11", "3.11.2", true, ""});
  r.python.frames = {{"/w/a.py", "hammer", 22}, {"/w/a.py", "main", 30}, {"/w/a.py", "other", 40}};
  r.python.read_period_ns = 10 * kMs;
  r.python.reads = {{100, 1, 1000 * kMs, 1100 * kMs, {0, 1}},
                    {100, 1, 1200 * kMs, 1200 * kMs, {1}},
                    {100, 2, 1150 * kMs, 1150 * kMs, {2}}};
  return r;
}

std::vector<int32_t> frames_at(const PythonReads& reads, uint32_t tid, uint64_t t) {
  const std::vector<int32_t>* f = reads.nearest(tid, t);
  return f ? *f : std::vector<int32_t>{-1};
}

TEST(PythonReads, SampleTakesItsThreadsNearestReadWithinOnePeriod) {
  const model::Recording rec = python_recording();
  const PythonReads reads(rec.python);
  EXPECT_EQ(frames_at(reads, 1, 1050 * kMs), (std::vector<int32_t>{0, 1}));  // inside a run of reads
  EXPECT_EQ(frames_at(reads, 1, 995 * kMs), (std::vector<int32_t>{0, 1}));   // 5 ms before the first read
  EXPECT_EQ(frames_at(reads, 1, 1105 * kMs), (std::vector<int32_t>{0, 1}));  // 5 ms after the run
  EXPECT_EQ(frames_at(reads, 1, 1196 * kMs), (std::vector<int32_t>{1}));     // nearer the next read than the last
  EXPECT_EQ(frames_at(reads, 1, 1210 * kMs), (std::vector<int32_t>{1}));     // exactly one period after
}

TEST(PythonReads, NoReadWithinAPeriodIsNone) {
  const model::Recording rec = python_recording();
  const PythonReads reads(rec.python);
  EXPECT_EQ(reads.nearest(1, 1211 * kMs), nullptr);  // 11 ms after its last read
  EXPECT_EQ(reads.nearest(1, 980 * kMs), nullptr);   // 20 ms before its first
  EXPECT_EQ(reads.nearest(3, 1050 * kMs), nullptr);  // a thread never read
}

TEST(PythonReads, AnotherThreadsReadIsNeverUsed) {
  const model::Recording rec = python_recording();
  const PythonReads reads(rec.python);
  // Thread 2 was read at exactly 1150 ms; thread 1's reads are 50 ms away.
  EXPECT_EQ(reads.nearest(1, 1150 * kMs), nullptr);
  EXPECT_EQ(frames_at(reads, 2, 1150 * kMs), (std::vector<int32_t>{2}));
}

model::MemorySample sample(uint32_t pid, uint32_t tid, uint64_t t) {
  model::MemorySample s;
  s.pid = pid;
  s.tid = tid;
  s.time_ns = t;
  s.regs[model::kRip] = 0x401000;
  return s;
}

TEST(PythonReads, MemoryTableNamesPythonLinesAndCountsSamplesWithout) {
  model::Recording rec = python_recording();
  rec.memory_samples = {sample(100, 1, 1050 * kMs), sample(100, 1, 1060 * kMs), sample(100, 2, 1151 * kMs),
                        sample(100, 1, 1150 * kMs) /* no read near */, sample(200, 7, 1050 * kMs) /* not Python */};
  Index index(rec);
  std::map<std::string, uint64_t> losses;
  const nlohmann::json t = python_memory_table(index, losses);
  ASSERT_FALSE(t.is_null());
  EXPECT_EQ(t["samples"], 4);
  EXPECT_EQ(t["samples_with_frames"], 3);
  EXPECT_EQ(losses["python.memory_sample_frames_missing"], 1u);
  ASSERT_EQ(t["sites"].size(), 2u);
  EXPECT_EQ(t["sites"][0]["function"], "hammer");
  EXPECT_EQ(t["sites"][0]["line"], 22);
  EXPECT_EQ(t["sites"][0]["samples"], 2);
  EXPECT_EQ(t["sites"][1]["function"], "other");
  // The flame graph: Python frames root first, then the native function at the sample.
  ASSERT_GE(t["stacks"].size(), 1u);
  const auto& top = t["stacks"][0]["frames"];
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0], "main (a.py:30)");
  EXPECT_EQ(top[1], "hammer (a.py:22)");
  EXPECT_EQ(t["stacks"][0]["samples"], 2);
}

TEST(PythonReads, AnotherCpythonVersionGetsItsNoteAndNoFrames) {
  model::Recording rec = python_recording();
  rec.python.processes[0] = {100, "/usr/bin/python3.12", "3.12.1", false, "CPython 3.12.1 in /usr/bin/python3.12: ..."};
  rec.memory_samples = {sample(100, 1, 1050 * kMs), sample(200, 7, 1050 * kMs)};
  Index index(rec);
  std::map<std::string, uint64_t> losses;
  const nlohmann::json t = python_memory_table(index, losses);
  ASSERT_FALSE(t.is_null());
  EXPECT_EQ(t["note"], rec.python.processes[0].note);
  EXPECT_EQ(t["samples"], 1);
  EXPECT_EQ(t["samples_with_frames"], 0);
  EXPECT_TRUE(t["sites"].empty());
  EXPECT_TRUE(losses.empty());  // not a missed read: a version ccprof does not read
  rec.python.processes.clear();  // no CPython at all
  Index none(rec);
  EXPECT_TRUE(python_memory_table(none, losses).is_null());
}

TEST(PythonReads, AccessSitesOfALineComeFromTheAccessingThreadsReads) {
  model::Recording rec = python_recording();
  Index index(rec);
  MemoryAccess a;
  a.pid = 100;
  a.data_addr = 0x7000 + 8;
  a.tid = 1;
  a.time_ns = 1050 * kMs;
  index.memory.accesses = {a, a};
  a.tid = 2;
  a.time_ns = 1150 * kMs;
  index.memory.accesses.push_back(a);
  a.data_addr = 0x7000 + 16;  // another offset: not asked for
  index.memory.accesses.push_back(a);
  const PythonReads reads(rec.python);
  auto sites = python_access_sites(index, reads, 100, 0x7000, {8});
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_EQ(sites[0].function, "hammer");
  EXPECT_EQ(sites[0].line, 22);
  EXPECT_NEAR(sites[0].share, 2.0 / 3, 1e-9);
  EXPECT_EQ(sites[1].function, "other");
  EXPECT_TRUE(python_access_sites(index, reads, 101, 0x7000, {8}).empty());  // another process
}

TEST(PythonReads, ReadsSurviveTheRecordingFileAndBadFrameIndicesAreRejected) {
  model::Recording rec = python_recording();
  auto back = model::round_trip(rec, "python_reads");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->python.reads.size(), 3u);
  EXPECT_EQ(back->python.read_period_ns, 10 * kMs);
  EXPECT_EQ(back->python.reads[0].frames, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(back->python.reads[0].last_ns, 1100 * kMs);
  rec.python.reads[1].frames = {7};
  EXPECT_FALSE(model::round_trip(rec, "python_reads_bad").ok());
}

}  // namespace
}  // namespace ccprof::profiler
