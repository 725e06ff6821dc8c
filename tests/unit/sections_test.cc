// The typed sections of a Recording: syscall classes, the sections' round trip
// through a saved recording, a section that names a missing stack, Little's law.
#include "model/recording.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <fstream>
#include <regex>
#include <string>
#include <unistd.h>

#include <cstdio>

#include "profiler/model_names.h"
#include "profiler/sched_rules.h"
#include "tests/unit/recording_util.h"

namespace ccprof::profiler {
namespace {

TEST(SyscallClass, BlockingSyscallsAreIoSleepOrPoll) {
  EXPECT_EQ(classify_syscall(SYS_read), SyscallClass::kIo);
  EXPECT_EQ(classify_syscall(SYS_pread64), SyscallClass::kIo);
  EXPECT_EQ(classify_syscall(SYS_fsync), SyscallClass::kIo);
  EXPECT_EQ(classify_syscall(SYS_clock_nanosleep), SyscallClass::kSleep);
  EXPECT_EQ(classify_syscall(SYS_poll), SyscallClass::kPoll);
  EXPECT_EQ(classify_syscall(SYS_epoll_wait), SyscallClass::kPoll);
  EXPECT_EQ(classify_syscall(SYS_futex), SyscallClass::kFutex);
  EXPECT_EQ(classify_syscall(SYS_clone3), SyscallClass::kSpawn);
  EXPECT_EQ(classify_syscall(SYS_brk), SyscallClass::kMemoryGrow);
  EXPECT_EQ(classify_syscall(SYS_munmap), SyscallClass::kMemory);
  EXPECT_EQ(classify_syscall(SYS_getpid), SyscallClass::kOther);
  EXPECT_EQ(classify_syscall(-1), SyscallClass::kOther);
  EXPECT_TRUE(is_blocking_syscall(SYS_recvfrom));
  EXPECT_TRUE(is_blocking_syscall(SYS_nanosleep));
  EXPECT_FALSE(is_blocking_syscall(SYS_futex));
  EXPECT_FALSE(is_blocking_syscall(SYS_mmap));
  EXPECT_EQ(syscall_name(SYS_poll), "poll");
  EXPECT_EQ(syscall_name(4242), "syscall_4242");
  EXPECT_STREQ(syscall_class_name(SyscallClass::kIo), "io");
}

// model/syscalls.json spells x86-64 numbers out: they must be the kernel headers' numbers.
TEST(SyscallClass, TheTableUsesTheKernelsNumbers) {
  std::ifstream h("/usr/include/x86_64-linux-gnu/asm/unistd_64.h");
  if (!h) GTEST_SKIP() << "no x86-64 kernel headers to compare with";
  std::string line;
  int known = 0;
  std::regex def(R"(#define __NR_(\w+) (\d+))");
  while (std::getline(h, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, def)) continue;
    const int nr = std::stoi(m[2]);
    const std::string name = syscall_name(nr);
    if (name.starts_with("syscall_")) continue;  // not in the table
    EXPECT_EQ(name, m[1].str()) << "number " << nr;
    ++known;
  }
  EXPECT_GT(known, 90) << "the table lost entries";
}

SchedSection sample_section() {
  SchedSection s;
  s.long_syscall_ns = 1'000'000;
  SchedThread t{.pid = 10,
                .tid = 11,
                .comm = "worker \"<x>\"",
                .created_ns = 5,
                .exited_ns = 900,
                .on_cpu_ns = 100,
                .off_cpu_ns = 700,
                .runq_ns = 50,
                .max_runq_ns = 20,
                .runq_count = 3,
                .voluntary_switches = 7,
                .involuntary_switches = 2,
                .wakeups = 6};
  t.syscall_ns[static_cast<int>(SyscallClass::kIo)] = 400;
  t.syscall_ns[static_cast<int>(SyscallClass::kPoll)] = 150;
  t.syscall_count[static_cast<int>(SyscallClass::kIo)] = 4;
  s.threads.push_back(t);
  s.syscall_sites.push_back({10, SYS_read, 0x7f0000001234ull, 4, 400, 200});
  s.long_syscalls.push_back({10, 11, SYS_read, 100, 2'000'000, 0x7f0000001234ull, 0});
  s.rss.push_back({1000, 10, 1ull << 33});  // above 2^32: must survive the round trip
  return s;
}

TEST(SchedSection, RoundTripsThroughASavedRecording) {
  Recording rec;
  rec.start_ns = 1;
  rec.end_ns = 1000;
  rec.stacks.resize(1);
  rec.has_sched = true;
  rec.sched = sample_section();
  rec.has_lockrate = true;
  rec.lockrate.window_s = 0.04;
  rec.lockrate.intervals_ns = {{10, 20}, {30, 40}};
  rec.lockrate.entries.push_back({10, 11, 0x5000, 0x401234, 77});
  rec.futex = {500, 100, 5};
  rec.memory_sampler.mode = "decode";
  rec.memory_sampler.period_ns = 1'000'000;
  auto back = model::round_trip(rec, "sections");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_sched);
  const SchedSection* s = &back->sched;
  ASSERT_TRUE(back->has_lockrate);
  EXPECT_EQ(back->lockrate.intervals_ns.size(), 2u);
  ASSERT_EQ(back->lockrate.entries.size(), 1u);
  EXPECT_EQ(back->lockrate.entries[0].calls, 77u);
  EXPECT_EQ(back->lockrate.entries[0].caller, 0x401234u);
  EXPECT_EQ(back->futex.keep_every, 5u);
  EXPECT_EQ(back->memory_sampler.mode, "decode");
  EXPECT_EQ(back->memory_sampler.period_ns, 1'000'000u);
  ASSERT_EQ(s->threads.size(), 1u);
  const SchedThread& t = s->threads[0];
  EXPECT_EQ(t.comm, "worker \"<x>\"");
  EXPECT_EQ(t.exited_ns, 900u);
  EXPECT_EQ(t.runq_count, 3u);
  EXPECT_EQ(t.blocking_syscall_ns(), 550u);
  EXPECT_EQ(t.syscall_count[static_cast<int>(SyscallClass::kIo)], 4u);
  ASSERT_EQ(s->syscall_sites.size(), 1u);
  EXPECT_EQ(s->syscall_sites[0].ip, 0x7f0000001234ull);
  ASSERT_EQ(s->long_syscalls.size(), 1u);
  EXPECT_EQ(s->long_syscalls[0].stack, 0);
  EXPECT_EQ(s->long_syscalls[0].duration_ns, 2'000'000u);
  ASSERT_EQ(s->rss.size(), 1u);
  EXPECT_EQ(s->rss[0].rss_bytes, 1ull << 33);
  EXPECT_EQ(s->long_syscall_ns, 1'000'000u);
  EXPECT_NE(s->thread(11), nullptr);
  EXPECT_EQ(s->thread(12), nullptr);
}

TEST(SchedSection, AbsentSectionsStayAbsent) {
  auto back = model::round_trip(Recording{}, "sections_absent");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->has_sched);
  EXPECT_FALSE(back->has_lockrate);
}

TEST(SchedSection, AStackIndexBeyondTheStacksIsCorrupt) {
  Recording rec;
  rec.has_sched = true;
  rec.sched = sample_section();  // names stack 0; rec.stacks is empty
  auto back = model::round_trip(rec, "sections_bad_stack");
  EXPECT_TRUE(absl::IsDataLoss(back.status())) << back.status();
  EXPECT_NE(back.status().message().find("stack 0"), std::string::npos) << back.status();
}

TEST(PythonSection, RoundTripsAndRejectsAFrameIndexBeyondTheFrames) {
  Recording rec;
  rec.has_python = true;
  rec.python.processes.push_back({7, "/usr/bin/python3.11", "3.11.2", true, ""});
  rec.python.frames = {{"/w/crunch.py", "crunch_unit", 25}, {"/w/crunch.py", "<module>", 40}};
  rec.python.waits.push_back({7, 8, 0x1000, 5, 6, 0, {0, 1}});
  auto back = model::round_trip(rec, "sections_python");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_python);
  ASSERT_EQ(back->python.waits.size(), 1u);
  EXPECT_EQ(back->python.waits[0].frames, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(back->python.frames[0].line, 25);
  EXPECT_EQ(back->python.processes[0].version, "3.11.2");
  EXPECT_FALSE(model::round_trip(Recording{}, "sections_no_python")->has_python);

  rec.python.waits[0].frames = {2};
  auto bad = model::round_trip(rec, "sections_python_bad");
  EXPECT_TRUE(absl::IsDataLoss(bad.status())) << bad.status();
}

TEST(LittlesLaw, SeedExample) {
  // 4 cores, 90% target, 5 ms compute, 95 ms wait: 4 x 0.9 x 20 = 72 threads.
  EXPECT_DOUBLE_EQ(littles_law_pool_size(4, 0.9, 0.095, 0.005), 72.0);
  EXPECT_DOUBLE_EQ(littles_law_pool_size(2, 0.9, 0, 1), 1.8);  // CPU-bound: ≈ cores
  EXPECT_EQ(littles_law_pool_size(2, 0.9, 1, 0), 0);           // nothing computed: undefined
}

}  // namespace
}  // namespace ccprof::profiler
