#include "model/recording.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>

#include "tests/unit/recording_util.h"

namespace ccprof::model {
namespace {

Recording sample_recording() {
  Recording r;
  r.ccprof_version = "test";
  r.mode = "run";
  r.command = {"./a", "--x"};
  r.exit_code = 7;
  r.online_cpus = 2;
  r.start_ns = 1000;
  r.end_ns = 2'000'001'000;
  r.memory_sampler.mode = "decode";
  ProcessInfo p;
  p.pid = 42;
  p.comm = "a";
  p.maps.push_back({0x1000, 0x2000, 0, "r-xp", "/bin/a", 99, "2dc8056a406d4515c15a7e199fcbda726b27668d"});
  r.processes.push_back(p);
  r.threads.push_back({42, 42, "a", 1000, 0});
  r.stacks.push_back({.pid = 42, .tid = 43, .regs = {}, .stack = {1, 2, 3, 0, 255}});
  r.stacks[0].regs[kRip] = 0x1234;
  r.stacks[0].regs[kRsp] = 0x7fff0000;
  r.futex_waits.push_back(
      {.uaddr = 0x5000, .pid = 42, .tid = 43, .owner_tid = 42, .duration_ns = 12345, .stack = 0, .owner_syscall = 0,
       .word = 0x7000, .waker_tid = 42, .woken_ns = 777});
  FutexAddrStats a{.uaddr = 0x5000, .pid = 42, .waits = 1};
  a.hist_log2_ns[13] = 1;
  r.futex_addrs.push_back(a);
  r.has_sched = true;
  r.sched.long_syscall_ns = 7;
  r.losses["futex.wait_events_dropped"] = 3;
  return r;
}

std::string temp_path(const char* name) { return temp_recording_path(name); }

TEST(Recording, RoundTripKeepsEveryField) {
  Recording r = sample_recording();
  auto back = round_trip(r, "rec");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->command, r.command);
  EXPECT_EQ(back->exit_code, 7);
  EXPECT_EQ(back->processes.at(0).maps.at(0).path, "/bin/a");
  EXPECT_EQ(back->processes.at(0).maps.at(0).inode, 99u);
  EXPECT_EQ(back->processes.at(0).maps.at(0).build_id, "2dc8056a406d4515c15a7e199fcbda726b27668d");
  EXPECT_EQ(back->stacks.at(0).stack, r.stacks[0].stack);
  EXPECT_EQ(back->stacks.at(0).regs[kRip], 0x1234u);
  EXPECT_EQ(back->futex_waits.at(0).duration_ns, 12345u);
  EXPECT_EQ(back->futex_waits.at(0).owner_syscall, 0);
  EXPECT_EQ(back->futex_waits.at(0).word, 0x7000u);
  EXPECT_EQ(back->futex_waits.at(0).waker_tid, 42u);
  EXPECT_EQ(back->futex_waits.at(0).woken_ns, 777u);
  EXPECT_EQ(back->futex_addrs.at(0).hist_log2_ns[13], 1u);
  ASSERT_TRUE(back->has_sched);
  EXPECT_EQ(back->sched.long_syscall_ns, 7u);
  EXPECT_EQ(back->losses.at("futex.wait_events_dropped"), 3u);
  EXPECT_DOUBLE_EQ(back->duration_s(), 2.0);
}

// A build ID becomes a path (/usr/lib/debug/.build-id/xx/yyyy): one that is not hex
// digits reads back as unknown, never as a path to follow.
TEST(Recording, ABuildIdThatIsNotHexReadsBackAsUnknown) {
  Recording r = sample_recording();
  for (const char* bad : {"../../etc/passwd", "2DC8", "abc", "2dc8/../x"}) {
    r.processes[0].maps[0].build_id = bad;
    auto back = round_trip(r, "rec-build-id");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->processes.at(0).maps.at(0).build_id, "") << bad;
  }
}

// A file damaged in one way is refused with an error that says how.
TEST(Recording, DamagedFilesAreRejectedWithAClearError) {
  struct Damage {
    const char* name;
    std::function<void(const std::string& path)> apply;
    const char* message;
  };
  const Damage cases[] = {
      {"truncated",
       [](const std::string& path) {
         std::ifstream in(path, std::ios::binary);
         std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
         std::ofstream(path, std::ios::binary | std::ios::trunc) << data.substr(0, data.size() - 10);
       },
       "truncated"},
      {"corrupt payload",
       [](const std::string& path) {
         std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(40);
         f.put('\x7f');
       },
       "corrupt"},
      {"foreign",
       [](const std::string& path) {
         std::ofstream(path, std::ios::trunc) << "hello, this is not a recording at all";
       },
       "not a ccprof recording"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = temp_path("damaged");
    ASSERT_TRUE(save_recording(sample_recording(), path).ok());
    c.apply(path);
    auto back = load_recording(path);
    ASSERT_FALSE(back.ok());
    EXPECT_NE(std::string(back.status().message()).find(c.message), std::string::npos) << back.status();
    unlink(path.c_str());
  }
  EXPECT_FALSE(load_recording("/nonexistent/x").ok());
}

TEST(Recording, MemorySamplesKeepTheirStackWindows) {
  Recording r = sample_recording();
  MemorySample with;
  with.pid = 42;
  with.tid = 43;
  with.regs[kRsp] = 0x7fff1000;
  with.stack_windows.push_back({0x7fff0fc0, std::vector<uint8_t>(256, 0xab)});
  with.stack_windows.push_back({0x7fff1100, {1, 2, 3}});
  MemorySample without;  // as in recordings made before stack windows existed
  without.pid = 42;
  without.tid = 44;
  r.memory_samples = {with, without};
  auto back = round_trip(r, "rec-sw");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->memory_samples.size(), 2u);
  const auto& w = back->memory_samples[0].stack_windows;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].addr, 0x7fff0fc0u);
  EXPECT_EQ(w[0].bytes, std::vector<uint8_t>(256, 0xab));
  EXPECT_EQ(w[1].bytes, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_TRUE(back->memory_samples[1].stack_windows.empty());
  EXPECT_EQ(back->memory_samples[1].tid, 44u);
}

}  // namespace
}  // namespace ccprof::model
