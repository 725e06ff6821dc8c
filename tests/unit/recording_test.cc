#include "model/recording.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>

#include "tests/unit/recording_util.h"

#include <nlohmann/json.hpp>

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

// The sampler's cost share, the one its rate decisions used, reads back as written.
TEST(Recording, TheSamplersCostShareReadsBack) {
  Recording r = sample_recording();
  auto& ms = r.memory_sampler;
  ms.requested_hz = 499;
  ms.cost_window_s = 2;
  ms.bpf_s = 0.01;
  ms.agent_s = 0.02;
  ms.interrupt_s = 0.01;
  ms.cost_share = 0.0123;
  auto back = round_trip(r, "rec-share");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_DOUBLE_EQ(back->memory_sampler.cost_share, 0.0123);
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

// The bulk arrays are written straight from the structs (model/cbor_writer.h); the
// document must be the one the JSON of the whole recording gives, field for field, at
// every integer width CBOR has and with negative indices.
TEST(Recording, DirectlyWrittenBulkIsTheSameDocumentAsTheJsonOne) {
  Recording r = sample_recording();
  const uint64_t widths[] = {0, 23, 24, 255, 256, 65535, 65536, 0xffffffffull, 0x100000000ull, ~0ull};
  for (uint64_t v : widths) {
    StackCopy unwound{.pid = 42, .tid = static_cast<uint32_t>(v), .time_ns = v,
                      .frames = static_cast<int32_t>(r.stack_frames.size())};
    r.stack_frames.push_back({});
    r.stack_frames.back().pcs = {v, 1};
    r.stacks.push_back(unwound);
    StackCopy raw{.pid = 42, .tid = 43, .time_ns = v, .frames = -1};
    raw.regs.fill(v);
    raw.stack.assign(static_cast<size_t>(v % 300), 0x5a);
    r.stacks.push_back(raw);
    MemorySample m{.pid = 42, .tid = 43, .cpu = static_cast<uint32_t>(v % 7), .time_ns = v};
    m.regs.fill(v);
    m.fsbase = v;
    m.data_addr = ~v;
    m.data_src = v >> 3;
    m.weight = static_cast<uint32_t>(v);
    m.pmu = v % 2;
    if (v % 3) m.stack_windows.push_back({v, std::vector<uint8_t>(static_cast<size_t>(v % 40), 7)});
    if (v % 5 == 0) m.stack_windows.push_back({~v, {}});
    r.memory_samples.push_back(m);
    r.sched.long_syscalls.push_back({.pid = 42, .tid = 43, .nr = v % 2 ? -1 : static_cast<int32_t>(v & 0x1ff),
                                     .enter_ns = v, .duration_ns = ~v, .ip = v, .stack = v % 2 ? -1 : 3});
  }
  r.sched.threads.push_back({});
  r.sched.rss.push_back({.time_ns = 5, .pid = 42, .rss_bytes = 1 << 20});
  const auto direct = nlohmann::json::from_cbor(recording_cbor(r));
  const auto via_json = nlohmann::json::from_cbor(recording_cbor_from_json(r));
  EXPECT_EQ(direct, via_json) << "differs: " << nlohmann::json::diff(via_json, direct).dump().substr(0, 2000);
  EXPECT_EQ(direct.at("stacks").size(), r.stacks.size());
  EXPECT_EQ(direct.at("sched").at("long_syscalls").size(), r.sched.long_syscalls.size());
  // Without a sched section there is none in either.
  r.has_sched = false;
  EXPECT_EQ(nlohmann::json::from_cbor(recording_cbor(r)), nlohmann::json::from_cbor(recording_cbor_from_json(r)));
  auto back = round_trip(r, "rec-direct");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->memory_samples.back().data_addr, ~widths[9]);
  EXPECT_EQ(back->stacks[1].frames, 0);  // unwound
  EXPECT_EQ(back->stacks[2].frames, -1);  // raw bytes kept
  EXPECT_EQ(back->stacks[2].stack, r.stacks[2].stack);
}

}  // namespace
}  // namespace ccprof::model
