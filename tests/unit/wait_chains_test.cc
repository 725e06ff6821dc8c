// The wait-for graph from recorded (synthetic) futex waits: no root, no kernel.
#include "profiler/wait_chains.h"

#include <sys/syscall.h>

#include <gtest/gtest.h>

#include "profiler/index.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kL1 = 0x5000, kL2 = 0x6000;

FutexWait wait_on(uint64_t lock, uint32_t tid, int32_t owner, uint64_t start, uint64_t dur, int32_t owner_syscall = -1) {
  FutexWait w;
  w.uaddr = lock;
  w.pid = 100;
  w.tid = tid;
  w.owner_tid = owner;
  w.expected = 2;
  w.start_ns = start;
  w.duration_ns = dur;
  w.owner_syscall = owner_syscall;
  w.owner_syscall_since_ns = owner_syscall >= 0 ? start - 10 : 0;
  return w;
}

LockInfo mutex(uint64_t addr, const std::string& name) {
  LockInfo l;
  l.pid = 100;
  l.uaddr = addr;
  l.type = "mutex";
  l.data.name = name;
  return l;
}

Recording threads_of(std::vector<FutexWait> waits) {
  Recording r;
  r.start_ns = 0;
  r.end_ns = 1'000'000'000;
  ProcessInfo p;
  p.pid = 100;
  r.processes.push_back(p);
  for (uint32_t t = 101; t <= 104; ++t) r.threads.push_back({t, 100, "worker", r.start_ns, r.end_ns});
  r.futex_waits = std::move(waits);
  return r;
}

// 101 waits for L1 held by 102, which waits for L2 held by 103, which is in poll():
// the wait is charged to 103's poll, through both locks. 104 waits for L2 directly.
TEST(WaitChains, FollowsTheOwnerToTheRoot) {
  Recording r = threads_of({
      wait_on(kL1, 101, 102, 1000, 5000),
      wait_on(kL2, 102, 103, 500, 8000, SYS_poll),
      wait_on(kL2, 104, 103, 2000, 1000, SYS_poll),
  });
  Index idx(r);
  idx.locks = {mutex(kL1, "g_first"), mutex(kL2, "g_second")};
  auto chains = build_wait_chains(idx);
  ASSERT_EQ(chains.size(), 2u);
  // By total wait: 102's own wait (8 µs), then 101's through 102 (5 µs)...
  const WaitChain* through = nullptr;
  for (const auto& c : chains)
    if (c.locks.size() == 2) through = &c;
  ASSERT_NE(through, nullptr);
  EXPECT_EQ(through->names, (std::vector<std::string>{"g_first", "g_second"}));
  EXPECT_EQ(through->root_kind, "syscall");
  EXPECT_EQ(through->root_what, "poll()");
  EXPECT_EQ(through->waits, 1u);
  EXPECT_NEAR(through->wait_s, 5e-6, 1e-12);
  // 102's and 104's waits on L2 are one chain of depth 1 with the same root.
  const WaitChain& direct = chains[0].locks.size() == 1 ? chains[0] : chains[1];
  EXPECT_EQ(direct.locks, std::vector<uint64_t>{kL2});
  EXPECT_EQ(direct.waits, 2u);
  EXPECT_EQ(direct.root_kind, "syscall");
  auto table = wait_chains_table(idx);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_GE(table[0]["wait_s"].get<double>(), table[1]["wait_s"].get<double>());
}

// A finding about L1 names the chain behind it; one about L2 (direct waits only) does not.
TEST(WaitChains, LockFindingNamesTheChainBehindIt) {
  Recording r = threads_of({
      wait_on(kL1, 101, 102, 1000, 5000),
      wait_on(kL2, 102, 103, 500, 8000, SYS_poll),
  });
  Index idx(r);
  idx.locks = {mutex(kL1, "g_first"), mutex(kL2, "g_second")};
  nlohmann::json rows;
  std::string text = chains_behind_lock(idx, 100, kL1, &rows);
  EXPECT_NE(text.find("100% of the recorded waits for it were behind an owner"), std::string::npos) << text;
  EXPECT_NE(text.find("(for g_second)"), std::string::npos) << text;
  EXPECT_NE(text.find("is poll()"), std::string::npos) << text;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["depth"], 2);
  EXPECT_EQ(chains_behind_lock(idx, 100, kL2, nullptr), "");
}

TEST(WaitChains, RunningOwnerIsTheRoot) {
  Recording r = threads_of({wait_on(kL1, 101, 102, 1000, 5000)});
  Index idx(r);
  idx.locks = {mutex(kL1, "g_first")};
  auto chains = build_wait_chains(idx);
  ASSERT_EQ(chains.size(), 1u);
  EXPECT_EQ(chains[0].root_kind, "running");
}

// 101 waits for L1 held by 102 while 102 waits for L2 held by 101: a deadlock (while it lasted).
TEST(WaitChains, CycleIsNamed) {
  Recording r = threads_of({wait_on(kL1, 101, 102, 1000, 5000), wait_on(kL2, 102, 101, 900, 5000)});
  Index idx(r);
  idx.locks = {mutex(kL1, "g_first"), mutex(kL2, "g_second")};
  auto chains = build_wait_chains(idx);
  ASSERT_FALSE(chains.empty());
  bool cycle = false;
  for (const auto& c : chains) cycle |= c.root_kind == "cycle";
  EXPECT_TRUE(cycle);
}

TEST(WaitChains, CondvarWaitsAndUnknownOwnersAreNotChains) {
  Recording r = threads_of({wait_on(kL1, 101, 0, 1000, 5000), wait_on(kL2, 102, 103, 1000, 5000)});
  Index idx(r);
  LockInfo cv = mutex(kL2, "g_cv");
  cv.type = "condvar";
  idx.locks = {mutex(kL1, "g_first"), cv};
  EXPECT_TRUE(build_wait_chains(idx).empty());
}

}  // namespace
}  // namespace ccprof::profiler
