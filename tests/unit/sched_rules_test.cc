// The sched rules on synthetic recordings shaped like the scenario workloads' bad
// and fixed variants (numbers from real runs on a 2-core machine): each bad shape
// raises its kind with the numbers it cites, each fixed shape raises nothing.
#include "profiler/sched_rules.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include "profiler/tables.h"
#include "profiler/lock_rates.h"
#include "tests/unit/rule_test_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kStart = 1'000'000'000, kEnd = 3'000'000'000;  // a 2 s profile
constexpr uint64_t kMs = 1'000'000;

uint64_t ns(double s) { return static_cast<uint64_t>(s * 1e9); }

struct ThreadShape {
  uint32_t pid, tid;
  double created_s = -1, exited_s = -1;  // relative to the start; -1 = before / after the profile
  double on_s = 0, runq_s = 0;
  double io_s = 0;  // in poll()
  uint64_t io_calls = 0;
  double futex_s = 0;
};

SchedThread make_thread(const ThreadShape& s) {
  SchedThread t;
  t.pid = s.pid;
  t.tid = s.tid;
  t.comm = "workload";
  if (s.created_s >= 0) t.created_ns = kStart + ns(s.created_s);
  if (s.exited_s >= 0) t.exited_ns = kStart + ns(s.exited_s);
  t.on_cpu_ns = ns(s.on_s);
  t.runq_ns = ns(s.runq_s);
  t.off_cpu_ns = ns(s.runq_s + s.io_s + s.futex_s);
  t.involuntary_switches = static_cast<uint64_t>(s.runq_s * 250);
  t.voluntary_switches = s.io_calls;
  t.syscall_ns[static_cast<int>(SyscallClass::kPoll)] = ns(s.io_s);
  t.syscall_count[static_cast<int>(SyscallClass::kPoll)] = s.io_calls;
  t.syscall_ns[static_cast<int>(SyscallClass::kFutex)] = ns(s.futex_s);
  return t;
}

std::vector<Finding> sched_rules(const Index& idx);

struct Fixture {
  Recording rec;
  SchedSection sec;
  std::vector<LockInfo> locks;
  std::vector<LockRate> lock_rates;

  Fixture() {
    rec.start_ns = kStart;
    rec.end_ns = kEnd;
    rec.online_cpus = 2;
  }
  void add(const ThreadShape& s) {
    sec.threads.push_back(make_thread(s));
    ThreadInfo t;
    t.tid = s.tid;
    t.pid = s.pid;
    t.start_ns = s.created_s >= 0 ? kStart + ns(s.created_s) : kStart;
    t.end_ns = s.exited_s >= 0 ? kStart + ns(s.exited_s) : kEnd;
    rec.threads.push_back(t);
  }
  std::vector<Finding> run() {
    rec.has_sched = true;
    rec.sched = sec;
    Index idx(rec);
    idx.locks = locks;
    idx.lock_rates = lock_rates;
    return sched_rules(idx);
  }
};

std::vector<Finding> sched_rules(const Index& idx) {
  return run_rules({"lock-held-across-io", "pool-saturated-io", "oversubscription", "thread-churn", "unbounded-queue"},
                   idx);
}

TEST(SchedRules, NoSectionNoFindings) {
  Recording rec;
  Index ctx(rec);
  EXPECT_TRUE(sched_rules(ctx).empty());
}

// s05 bad: 2 workers (= cores) each blocked in poll() ~99% of the time, CPUs idle.
TEST(PoolSaturatedIo, CoresSizedPoolOfIoTasksFiresWithLittlesLawSize) {
  Fixture fx;
  fx.add({100, 100, -1, -1, 0.01, 0, 0, 0, 1.99});  // main thread: submits and joins
  fx.add({100, 101, 0.001, 1.999, 0.02, 0, 1.97, 390});
  fx.add({100, 102, 0.001, 1.999, 0.02, 0, 1.97, 390});
  fx.add({100, 103, 0.001, 1.999, 0, 0, 2.0, 1});  // the stopper: one long sleep, not a worker
  auto fs = fx.run();
  ASSERT_FINDING(f, fs, "pool-saturated-io");
  EXPECT_EQ(f->evidence["workers"], 2);
  // 2 cores x 0.9 x (1 + 3.94 / 0.04) = 179.1 -> 180
  EXPECT_EQ(f->evidence["suggested_pool_size"], 180);
  EXPECT_GT(f->evidence["io_share"].get<double>(), 0.98);
  EXPECT_LT(f->evidence["cpu_utilization"].get<double>(), 0.05);
  EXPECT_NEAR(f->cost_thread_s, 3.94, 0.01);
  EXPECT_NE(f->explanation.find("180 threads"), std::string::npos) << f->explanation;
  EXPECT_NE(f->remedy.after.find("180"), std::string::npos);
}

// s05 fixed: 9 workers, each busy about half the time.
TEST(PoolSaturatedIo, LittlesLawSizedPoolDoesNotFire) {
  Fixture fx;
  fx.add({100, 100, -1, -1, 0.01, 0, 0, 0, 1.99});
  for (uint32_t i = 0; i < 9; ++i) fx.add({100, 101 + i, 0.001, 1.999, 0.01, 0, 0.9, 180, 1.0});
  EXPECT_EQ(find_kind(fx.run(), "pool-saturated-io"), nullptr);
}

// An I/O-heavy pool on busy CPUs is not starved of threads: more would not help.
TEST(PoolSaturatedIo, BusyCpusDoNotFire) {
  Fixture fx;
  fx.add({100, 100, -1, -1, 1.9, 0, 0, 0, 0});
  fx.add({100, 101, 0.001, 1.999, 0.9, 0, 1.05, 200});
  fx.add({100, 102, 0.001, 1.999, 0.9, 0, 1.05, 200});
  EXPECT_EQ(find_kind(fx.run(), "pool-saturated-io"), nullptr);
}

// The acceptance: 32 CPU-bound threads on 2 cores fire, 2 do not.
TEST(Oversubscription, ThirtyTwoCpuBoundThreadsOnTwoCores) {
  Fixture fx;
  fx.add({100, 100, -1, -1, 0.001, 0, 0, 0, 1.99});
  for (uint32_t i = 0; i < 32; ++i) fx.add({100, 101 + i, 0.001, 1.999, 0.124, 1.87});
  auto fs = fx.run();
  ASSERT_FINDING(f, fs, "oversubscription");
  EXPECT_EQ(f->evidence["cpu_bound_threads"], 32);
  EXPECT_EQ(f->evidence["suggested_threads"], 2);
  EXPECT_GT(f->evidence["runq_share"].get<double>(), 0.9);
  EXPECT_NEAR(f->cost_thread_s, 32 * 1.87, 0.01);
}

TEST(Oversubscription, TwoCpuBoundThreadsOnTwoCoresDoNotFire) {
  Fixture fx;
  fx.add({100, 101, 0.001, 1.999, 1.9, 0.09});
  fx.add({100, 102, 0.001, 1.999, 1.9, 0.09});
  EXPECT_EQ(find_kind(fx.run(), "oversubscription"), nullptr);
}

// s03/s11/s12 run 4 spinning threads on 2 cores: the cache line is their problem.
TEST(Oversubscription, FourSpinnersOnTwoCoresDoNotFire) {
  Fixture fx;
  for (uint32_t i = 0; i < 4; ++i) fx.add({100, 101 + i, 0.001, 1.999, 0.99, 1.0});
  EXPECT_EQ(find_kind(fx.run(), "oversubscription"), nullptr);
}

// s08 bad: ~8000 threads a second, each living ~80 µs for a 20 µs task.
TEST(ThreadChurn, ThreadPerTaskFires) {
  Fixture fx;
  fx.add({100, 100, -1, -1, 0.5, 0, 0, 0, 1.0});
  fx.sec.threads.back().syscall_ns[static_cast<int>(SyscallClass::kSpawn)] = ns(0.2);
  for (uint32_t i = 0; i < 16000; ++i) {
    double t = 0.001 + i * 0.000124;
    SchedThread th = make_thread({100, 1000 + i, t, t + 0.00008, 0.00003, 0.00002});
    fx.sec.threads.push_back(th);  // rec.threads need not list them (the sched section does)
  }
  auto fs = fx.run();
  ASSERT_FINDING(f, fs, "thread-churn");
  EXPECT_EQ(f->evidence["threads_created"], 16000);
  EXPECT_NEAR(f->evidence["creations_per_s"].get<double>(), 8000, 1);
  EXPECT_NEAR(f->evidence["median_lifetime_s"].get<double>(), 0.00008, 1e-6);
  EXPECT_NEAR(f->evidence["creation_overhead_s"].get<double>(), 0.2, 1e-6);
  EXPECT_NE(f->explanation.find("8000 per second"), std::string::npos) << f->explanation;
}

// s08 fixed: a pool of `cores` threads, created once.
TEST(ThreadChurn, PoolDoesNotFire) {
  Fixture fx;
  fx.add({100, 100, -1, -1, 0.001, 0, 0, 0, 1.99});
  fx.add({100, 101, 0.001, 1.999, 1.9, 0.09});
  fx.add({100, 102, 0.001, 1.999, 1.9, 0.09});
  EXPECT_EQ(find_kind(fx.run(), "thread-churn"), nullptr);
}

// RSS from `from_mib` to `to_mib` over the profile; `anon` false: the growth is file
// pages (an mmap'd input being read), the anonymous part stays at from_mib.
void add_rss(Fixture& fx, double from_mib, double to_mib, bool anon = true) {
  for (int i = 0; i <= 19; ++i) {
    const auto mib = static_cast<uint64_t>((from_mib + (to_mib - from_mib) * i / 19.0) * 1048576);
    fx.sec.rss.push_back({kStart + static_cast<uint64_t>(i) * 100 * kMs, 100, mib,
                          anon ? mib : static_cast<uint64_t>(from_mib * 1048576)});
  }
}

// The s10 shape: a main thread, a producer (101) that never blocks and a consumer (102)
// that is never idle either, while RSS grows from 3 to 98 MiB (`anon` false: file pages).
Fixture growing_rss(bool anon = true) {
  Fixture fx;
  fx.add({100, 100, -1, -1, 0.01, 0, 0, 0, 1.99});
  fx.add({100, 101, 0.002, 1.999, 0.7, 1.3, 0, 0, 0.0003});
  fx.add({100, 102, 0.002, 1.999, 0.35, 1.6});
  add_rss(fx, 3, 98, anon);
  return fx;
}

// A lock of process 100 taken `calls` times by `tids` (what the lock-rate collector measures).
LockRate lock_rate(uint64_t lock, uint64_t calls, std::set<uint32_t> tids) {
  LockRate rate;
  rate.pid = 100;
  rate.lock = lock;
  rate.calls = calls;
  rate.tids = std::move(tids);
  return rate;
}

// The queue's mutex, taken by the producer (101) and the consumer (102).
void add_handoff(Fixture& fx) { fx.lock_rates.push_back(lock_rate(0x5000, 45000, {101, 102})); }

// s10 bad: RSS climbs ~50 MiB/s; the producer never blocks.
TEST(UnboundedQueue, GrowingRssWithANeverBlockingProducerFires) {
  Fixture fx = growing_rss();
  add_handoff(fx);
  auto fs = fx.run();
  ASSERT_FINDING(f, fs, "unbounded-queue");
  EXPECT_NEAR(f->evidence["growth_bytes"].get<double>(), 95.0 * 1048576, 1e5);
  EXPECT_NEAR(f->evidence["growth_bytes_per_s"].get<double>(), 95.0 * 1048576 / 1.9, 1e5);
  EXPECT_EQ(f->evidence["producer"]["tid"], 101);
  EXPECT_NE(f->explanation.find("from 3 MiB to 98 MiB"), std::string::npos) << f->explanation;
}

// s10 fixed: the bounded queue keeps RSS flat and the producer waits for space.
// s10 under load: no wait of the producer was sampled (it never has to wait), so where
// it enqueues comes from the lock-rate call sites of the locks it takes.
TEST(UnboundedQueue, TheEnqueueSiteComesFromTheProducersLockCallsWhenItNeverWaited) {
  Fixture fx = growing_rss();
  LockRate rate = lock_rate(0x5000, 9000, {101, 102});
  LockRateSite enqueue, dequeue;
  enqueue.loc.function = "enqueue_unbounded";
  enqueue.loc.line = 55;
  enqueue.calls = 5000;
  enqueue.tids = {101};
  dequeue.loc.function = "consume";
  dequeue.calls = 4000;
  dequeue.tids = {102};
  rate.sites = {enqueue, dequeue};
  fx.lock_rates = {rate};
  auto fs = fx.run();
  ASSERT_FINDING(f, fs, "unbounded-queue");
  ASSERT_FALSE(f->locations.empty());
  EXPECT_EQ(f->locations[0].function, "enqueue_unbounded");
  EXPECT_EQ(f->locations[0].role, "the producer enqueues here");
  for (const auto& l : f->locations) EXPECT_NE(l.function, "consume") << "the consumer's site is not the producer's";
}

TEST(UnboundedQueue, FlatRssDoesNotFire) {
  Fixture fx;
  fx.add({100, 101, 0.002, 1.999, 0.3, 0.2, 0, 0, 1.5});
  fx.add({100, 102, 0.002, 1.999, 1.0, 1.0});
  add_rss(fx, 3.5, 3.9);
  EXPECT_EQ(find_kind(fx.run(), "unbounded-queue"), nullptr);
}

// A reader that maps its input and walks through it: RSS grows by file pages while the
// reader never blocks, but nothing is queued.
TEST(UnboundedQueue, FilePagesOfAnMmapReaderAreNotAQueue) {
  Fixture fx = growing_rss(/*anon=*/false);
  EXPECT_EQ(find_kind(fx.run(), "unbounded-queue"), nullptr);
}

// A cache filled once while readers run (healthy-twins cache-fill): the heap grows and
// no thread blocks, but nothing is handed from one thread to another.
TEST(UnboundedQueue, GrowthWithoutAHandoffIsNotAQueue) {
  Fixture fx = growing_rss();
  // measured: each thread takes only its own lock
  fx.lock_rates = {lock_rate(0x5000, 40000, {101}), lock_rate(0x6000, 5000, {102})};
  EXPECT_EQ(find_kind(fx.run(), "unbounded-queue"), nullptr);
}

// Without the lock-rate collector, a consumer that waited on the lock the producer
// held is the hand-off.
TEST(UnboundedQueue, AConsumerWaitingOnTheProducersLockIsAHandoff) {
  Fixture fx = growing_rss();
  FutexWait w;
  w.uaddr = 0x5000;
  w.pid = 100;
  w.tid = 102;
  w.owner_tid = 101;
  w.start_ns = kStart + ns(0.5);
  w.duration_ns = 20000;
  fx.rec.futex_waits.push_back(w);
  EXPECT_NE(find_kind(fx.run(), "unbounded-queue"), nullptr);
}

// Growing memory while every thread waits (a cache being filled by I/O) is not a queue.
TEST(UnboundedQueue, GrowthWithBlockedThreadsDoesNotFire) {
  Fixture fx;
  fx.add({100, 101, 0.002, 1.999, 0.2, 0, 1.7, 900});
  add_rss(fx, 3, 98);
  EXPECT_EQ(find_kind(fx.run(), "unbounded-queue"), nullptr);
}

// s13: waiters block on g_cache_mutex while its owner is in poll().
void add_lock_waits(Fixture& fx, int32_t owner_syscall, const char* type) {
  for (uint32_t i = 0; i < 4; ++i) fx.add({200, 201 + i, 0.001, 1.999, 0.01, 0, 0.5, 250, 1.45});
  LockInfo l;
  l.pid = 200;
  l.uaddr = 0x5000;
  l.type = type;
  for (int i = 0; i < 600; ++i) {
    FutexWait w;
    w.pid = 200;
    w.uaddr = 0x5000;
    w.tid = 201 + i % 4;
    w.owner_tid = static_cast<int32_t>(201 + (i + 1) % 4);
    w.start_ns = kStart + i * 3 * kMs;
    w.duration_ns = 2 * kMs + (i % 3) * kMs;  // 2-4 ms
    w.owner_syscall = owner_syscall;
    w.owner_syscall_since_ns = w.start_ns - kMs / 2;
    w.owner_syscall_ip = 0x7f00000010ull;
    fx.rec.futex_waits.push_back(w);
    l.waits++;
    l.event_waits++;
    l.total_wait_s += w.duration_ns / 1e9;
    l.waiters[w.tid].waits++;
    l.waiters[w.tid].wait_s += w.duration_ns / 1e9;
  }
  fx.locks.push_back(l);
  // The owner's long poll() calls, as the collector records them.
  for (int i = 0; i < 600; ++i)
    fx.sec.long_syscalls.push_back({200, static_cast<uint32_t>(201 + (i + 1) % 4), SYS_poll,
                                    kStart + i * 3 * kMs - kMs / 2, 2 * kMs, 0x7f00000010ull, -1});
}

TEST(LockHeldAcrossIo, OwnerInPollFires) {
  Fixture fx;
  add_lock_waits(fx, SYS_poll, "mutex");
  auto fs = fx.run();
  ASSERT_FINDING(f, fs, "lock-held-across-io");
  EXPECT_DOUBLE_EQ(f->evidence["wait_share"].get<double>(), 1.0);
  EXPECT_EQ(f->evidence["explained_waits"], 600);
  EXPECT_EQ(f->evidence["owner_syscalls"][0]["syscall"], "poll");
  EXPECT_EQ(f->evidence["owner_threads"], 4);
  EXPECT_DOUBLE_EQ(f->evidence["owner_io_median_ms"].get<double>(), 2.0);
  EXPECT_NEAR(f->cost_thread_s, 1.8, 1e-6);  // 200 x 2 + 200 x 3 + 200 x 4 ms
  EXPECT_NE(f->explanation.find("poll()"), std::string::npos);
  EXPECT_NE(f->title.find("poll()"), std::string::npos);
}

// s13 fixed: the owner runs (holds the lock only over the map) when waits begin.
TEST(LockHeldAcrossIo, OwnerRunningDoesNotFire) {
  Fixture fx;
  add_lock_waits(fx, -1, "mutex");
  EXPECT_EQ(find_kind(fx.run(), "lock-held-across-io"), nullptr);
}

// An owner waiting for another lock is contention, not I/O.
TEST(LockHeldAcrossIo, OwnerInFutexDoesNotFire) {
  Fixture fx;
  add_lock_waits(fx, SYS_futex, "mutex");
  EXPECT_EQ(find_kind(fx.run(), "lock-held-across-io"), nullptr);
}

// A condition variable's futex has no owner: garbage at uaddr+8 must not count.
TEST(LockHeldAcrossIo, CondvarDoesNotFire) {
  Fixture fx;
  add_lock_waits(fx, SYS_poll, "condvar");
  EXPECT_EQ(find_kind(fx.run(), "lock-held-across-io"), nullptr);
}

TEST(SchedRules, TheThreadsTableCarriesTheSchedulerTimes) {
  Fixture fx;
  fx.add({100, 101, 0.001, 1.999, 0.5, 0.25, 1.0, 10});
  fx.rec.has_sched = true;
  fx.rec.sched = fx.sec;
  Index ctx(fx.rec);
  nlohmann::json tables = build_tables(ctx);
  ASSERT_EQ(tables["threads"].size(), 1u);
  const auto& row = tables["threads"][0];
  EXPECT_EQ(row["tid"], 101);
  EXPECT_DOUBLE_EQ(row["on_cpu_s"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(row["io_s"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(row["runnable_s"].get<double>(), 0.25);
  EXPECT_NEAR(row["lifetime_s"].get<double>(), 1.998, 1e-9);  // one lifetime rule: created to exited
  EXPECT_TRUE(tables["rss"].is_array());
}

}  // namespace
}  // namespace ccprof::profiler
