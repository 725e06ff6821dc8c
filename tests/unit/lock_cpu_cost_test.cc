// The contended lock's CPU cost (profiler/lock_cpu_cost.h) from synthetic recordings:
// the sched collector's on-CPU and syscall times and the user-mode sampler's counts.
#include "profiler/lock_cpu_cost.h"

#include <gtest/gtest.h>

#include "model/syscalls.h"
#include "profiler/analysis.h"
#include "tests/unit/recording_util.h"
#include "tests/unit/rule_test_util.h"

namespace ccprof::profiler {
namespace {

constexpr int kThreads = 4;
const std::set<uint32_t> kTids = {100, 101, 102, 103};

// 4 workers (tids 100..103) wait 0.5 s each for the mutex at 0x5000 on 2 CPUs; each was
// on CPU `on_cpu_s`, `futex_s` of its time in futex syscalls and `io_s` in reads, and
// the 1 kHz user-mode sampler saw `user_s` of its CPU.
Recording costly_lock(double on_cpu_s, double futex_s, double user_s, double io_s = 0) {
  Recording r = model::lock_contention_recording(kThreads, 0.5, 200);
  r.online_cpus = 2;
  r.has_sched = true;
  r.memory_sampler.mode = "decode";
  r.memory_sampler.period_ns = 1'000'000;
  for (uint32_t tid : kTids) {
    model::SchedThread t;
    t.pid = 100;
    t.tid = tid;
    t.on_cpu_ns = static_cast<uint64_t>(on_cpu_s * 1e9);
    t.syscall_ns[static_cast<int>(model::SyscallClass::kFutex)] = static_cast<uint64_t>(futex_s * 1e9);
    t.syscall_ns[static_cast<int>(model::SyscallClass::kIo)] = static_cast<uint64_t>(io_s * 1e9);
    r.sched.threads.push_back(t);
    for (int i = 0; i < static_cast<int>(user_s * 1000); ++i) {
      model::MemorySample m;
      m.pid = 100;
      m.tid = tid;
      m.time_ns = r.start_ns + i * 1'000'000ull;
      r.memory_samples.push_back(m);
    }
  }
  return r;
}

TEST(LockCpuCost, KernelTimeTheUserSamplerDidNotSeeIsTheLocksUpToItsFutexTime) {
  // 1.2 s on CPU, 0.24 s of it user: 0.96 s (80%) in the kernel, all of it explainable
  // by 1.4 s in futex syscalls.
  Recording r = costly_lock(1.2, 1.4, 0.24);
  auto index = build_index(r);
  auto c = lock_cpu_cost(*index, 100, kTids);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->samples, 960u);
  EXPECT_NEAR(c->on_cpu_s, 4.8, 1e-9);
  // 960 samples +- 2 sqrt(960) (~62): the low end takes the larger user time.
  EXPECT_NEAR(c->kernel_share_low, (4.8 - (960 + 2 * std::sqrt(960.0)) / 1000) / 4.8, 1e-9);
  EXPECT_NEAR(c->kernel_share_high, (4.8 - (960 - 2 * std::sqrt(960.0)) / 1000) / 4.8, 1e-9);
  EXPECT_GT(c->kernel_share_low, 0.75);
  EXPECT_LT(c->kernel_share_high, 0.85);
  // The samples have no code: none is in lock code.
  EXPECT_DOUBLE_EQ(c->lock_user_share, 0.0);
}

TEST(LockCpuCost, OtherSyscallsAndShortFutexTimeBoundTheLocksShare) {
  // Half a second of reads per thread may be kernel CPU: the low end does not charge it
  // to the lock; and no more than the futex syscalls' 0.2 s can be the lock's.
  auto c = lock_cpu_cost(*build_index(costly_lock(1.2, 0.2, 0.24, 0.5)), 100, kTids);
  ASSERT_TRUE(c.has_value());
  EXPECT_LE(c->kernel_share_high, 0.2 / 1.2 + 1e-9);
  EXPECT_LE(c->kernel_share_low, c->kernel_share_high);
  auto d = lock_cpu_cost(*build_index(costly_lock(1.2, 1.4, 0.24, 0.5)), 100, kTids);
  ASSERT_TRUE(d.has_value());
  EXPECT_NEAR(d->kernel_share_low, (4.8 - (960 + 2 * std::sqrt(960.0)) / 1000 - 2.0) / 4.8, 1e-9);
  // One waiter that also sleeps 2 s in reads does not hide the others' futex time.
  Recording r = costly_lock(1.2, 1.4, 0.24);
  r.sched.threads[3].syscall_ns[static_cast<int>(model::SyscallClass::kIo)] = 2'000'000'000;
  auto e = lock_cpu_cost(*build_index(r), 100, kTids);
  ASSERT_TRUE(e.has_value());
  EXPECT_NEAR(e->kernel_share_low, 0.75 * (4.8 - (960 + 2 * std::sqrt(960.0)) / 1000) / 4.8, 1e-9);
}

TEST(LockCpuCost, ThreadsThatRanTheirOwnCodeCostNothing) {
  // All of the CPU was user time: the waits were off-CPU sleeps.
  auto c = lock_cpu_cost(*build_index(costly_lock(1.0, 1.0, 1.0)), 100, kTids);
  ASSERT_TRUE(c.has_value());
  EXPECT_DOUBLE_EQ(c->kernel_share_low, 0.0);
  EXPECT_LT(c->kernel_share_high, 0.07);  // the samples' error only
}

TEST(LockCpuCost, NoSchedNoDecodeSamplerOrTooFewSamplesIsNoInput) {
  Recording r = costly_lock(1.2, 1.4, 0.24);
  r.has_sched = false;
  EXPECT_FALSE(lock_cpu_cost(*build_index(r), 100, kTids).has_value());
  r = costly_lock(1.2, 1.4, 0.24);
  r.memory_sampler.period_ns = 0;  // PMU mode: a sample is not a period of CPU
  EXPECT_FALSE(lock_cpu_cost(*build_index(r), 100, kTids).has_value());
  r = costly_lock(1.2, 1.4, 0.01);  // 40 samples
  EXPECT_FALSE(lock_cpu_cost(*build_index(r), 100, kTids).has_value());
  r = costly_lock(1.2, 1.4, 0.24);
  EXPECT_FALSE(lock_cpu_cost(*build_index(r), 100, {100, 999}).has_value());  // 999: no sched row
}

TEST(LockCpuCost, TheLockFindingCarriesItAndPredictsBeyondItsWaiters) {
  Analysis cheap = analyze(model::lock_contention_recording(kThreads, 0.5, 200));
  Analysis costly = analyze(costly_lock(1.2, 1.4, 0.24));
  const Finding* a = find_kind(cheap.findings, "lock-contention");
  const Finding* b = find_kind(costly.findings, "lock-contention");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->evidence.contains("lock_cpu_cost"));
  ASSERT_TRUE(b->evidence.contains("lock_cpu_cost"));
  ASSERT_TRUE(b->predicted_gain.predicted) << b->predicted_gain.reason;
  EXPECT_GT(b->predicted_gain.low, 4.0);  // ~80% of the CPU given back: x4 and more
  EXPECT_GT(b->predicted_gain.high, kThreads);
  EXPECT_TRUE(b->predicted_gain.inputs.contains("lock_cpu_share_high"));
}

}  // namespace
}  // namespace ccprof::profiler
