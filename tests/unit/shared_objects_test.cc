// Memory shared by forked processes: one lock and one line per shared object, keyed by
// the address in the lowest pid that maps it.
#include "profiler/shared_objects.h"

#include <gtest/gtest.h>

#include "profiler/index.h"
#include "profiler/lock_table.h"
#include "tests/unit/recording_util.h"

namespace ccprof::profiler {
namespace {

using model::MemoryMap;
using model::ProcessInfo;
using model::Recording;

constexpr uint64_t kExe = 0x555500000000;

// Process `pid` of /srv/worker: its executable at kExe and the shared segment
// (a deleted /dev/zero, inode 77) at `segment`; a private mapping at 0x7000.
ProcessInfo worker(uint32_t pid, uint64_t segment, uint64_t exe_base = kExe, std::string exe = "/srv/worker") {
  ProcessInfo p;
  p.pid = pid;
  p.exe = exe;
  p.maps.push_back(MemoryMap{exe_base, exe_base + 0x1000, 0, "r-xp", exe, 12});
  p.maps.push_back(MemoryMap{segment, segment + 0x2000, 0, "rw-s", "/dev/zero (deleted)", 77});
  p.maps.push_back(MemoryMap{0x7000, 0x8000, 0, "rw-p", "", 0});
  return p;
}

TEST(SharedObjects, ForkedWorkersSeeOneObjectAtTheLowestPidsAddress) {
  Recording r;
  r.processes = {worker(200, 0x7f0000000000), worker(100, 0x7f1000000000), worker(300, 0x7f2000000000)};
  SharedObjects s(r);
  const auto c = s.canonical(300, 0x7f2000000088);
  EXPECT_EQ(c.pid, 100u);
  EXPECT_EQ(c.addr, 0x7f1000000088u);
  EXPECT_EQ(s.processes(200, 0x7f0000001000), (std::set<uint32_t>{100, 200, 300}));
  // Private memory and addresses outside the segment keep their own identity.
  EXPECT_EQ(s.canonical(300, 0x7010).pid, 300u);
  EXPECT_EQ(s.canonical(300, 0x7f2000002000).addr, 0x7f2000002000u);
  EXPECT_EQ(s.processes(300, 0x7010), (std::set<uint32_t>{300}));
}

TEST(SharedObjects, DifferentProgramsOrLayoutsAreNotMerged) {
  Recording r;
  // The same segment, but another executable, and the same one loaded elsewhere (ASLR).
  r.processes = {worker(100, 0x7f1000000000), worker(200, 0x7f0000000000, kExe, "/srv/other"),
                 worker(300, 0x7f2000000000, kExe + 0x100000)};
  SharedObjects s(r);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.canonical(200, 0x7f0000000088).pid, 200u);
}

TEST(SharedObjects, AProcessSharedMutexIsOneLockWaitedOnByEveryProcess) {
  Recording r = model::two_second_recording({{101, "w1"}}, 100);
  r.processes = {worker(100, 0x7f1000000000), worker(200, 0x7f0000000000)};
  r.threads.push_back({201, 200, "w2", r.start_ns, r.end_ns});
  model::add_lock_waits(r, 0x7f1000000088, 101, 1, 0.4, 20);
  // The same mutex as process 200 sees it; its owner field names process 100's thread.
  model::FutexAddrStats a;
  a.pid = 200;
  a.uaddr = 0x7f0000000088;
  for (int k = 0; k < 20; ++k) {
    model::FutexWait w;
    w.pid = 200;
    w.tid = 201;
    w.uaddr = a.uaddr;
    w.owner_tid = 101;
    w.expected = 2;
    w.start_ns = r.start_ns + k * 1000;
    w.duration_ns = 30'000'000;
    r.futex_waits.push_back(w);
    a.waits++;
    a.wait_ns += w.duration_ns;
    a.max_wait_ns = w.duration_ns;
  }
  r.futex_addrs.push_back(a);
  Index idx(r);
  idx.locks = build_lock_table(idx);
  ASSERT_EQ(idx.locks.size(), 1u);
  const LockInfo& l = idx.locks[0];
  EXPECT_EQ(l.pid, 100u);
  EXPECT_EQ(l.uaddr, 0x7f1000000088u);
  EXPECT_EQ(l.processes, (std::set<uint32_t>{100, 200}));
  EXPECT_EQ(l.waits, 40u);
  EXPECT_NEAR(l.total_wait_s, 0.4 + 0.6, 1e-9);
  EXPECT_EQ(l.waiters.size(), 2u);
  EXPECT_EQ(l.owners.count(101), 1u);  // an owner in another process of the segment counts
  EXPECT_EQ(idx.lock(200, 0x7f0000000088), &l);
}

}  // namespace
}  // namespace ccprof::profiler
