// Accuracy of the sched collector against what threads measure themselves (root:
// loads BPF). The test profiles its own process:
//   - 2 x cores spinning threads never block, so the time they are not on a CPU is
//     run-queue delay: wall - CLOCK_THREAD_CPUTIME_ID must match runq_ns;
//   - sleeping threads block in clock_nanosleep: wall - thread CPU time must match
//     off_cpu_ns, and the sleep class of their syscall time must match the time
//     they asked to sleep; their long sleeps must carry user stacks that unwind to
//     the sleeping function;
//   - a forked child process must be added to the shared tgid set.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "agent/proc.h"
#include "agent/futex_collector.h"
#include "agent/sched_collector.h"
#include "agent/tracefs.h"
#include "agent/unique_fd.h"
#include "bpf/common.h"
#include "profiler/model_names.h"
#include "profiler/symbolizer.h"
#include "profiler/unwinder.h"

namespace ccprof {
namespace {

using agent::UniqueFd;

uint64_t clock_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
}

struct SelfMeasured {
  uint32_t tid = 0;
  uint64_t wall_ns = 0, cpu_ns = 0, asked_sleep_ns = 0;
};

void spin_for(uint64_t ns) {
  uint64_t end = clock_ns(CLOCK_MONOTONIC) + ns;
  volatile uint64_t x = 0;
  while (clock_ns(CLOCK_MONOTONIC) < end) x = x + 1;
}

__attribute__((noinline)) void spinner_loop(SelfMeasured* m, uint64_t duration_ns) {
  m->tid = static_cast<uint32_t>(gettid());
  uint64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  spin_for(duration_ns);
  m->wall_ns = clock_ns(CLOCK_MONOTONIC) - w0;
  m->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
}

__attribute__((noinline)) void sleeper_loop(SelfMeasured* m, int rounds) {
  m->tid = static_cast<uint32_t>(gettid());
  uint64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  for (int i = 0; i < rounds; ++i) {
    timespec ts{0, 5'000'000};
    uint64_t s0 = clock_ns(CLOCK_MONOTONIC);
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    m->asked_sleep_ns += clock_ns(CLOCK_MONOTONIC) - s0;
    spin_for(200'000);
  }
  m->wall_ns = clock_ns(CLOCK_MONOTONIC) - w0;
  m->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
}

// |measured - expected| within `rel` of expected, or within `abs_ns`.
::testing::AssertionResult close_to(const char* what, uint64_t measured, uint64_t expected, double rel,
                                    uint64_t abs_ns) {
  double diff = std::fabs(static_cast<double>(measured) - static_cast<double>(expected));
  if (diff <= rel * expected || diff <= abs_ns) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": ccprof " << measured / 1e6 << " ms, thread says "
                                       << expected / 1e6 << " ms (" << 100.0 * diff / expected << "% off)";
}

TEST(SchedAccuracy, RunQueueDelayAndOffCpuMatchSelfMeasurement) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF";
  ASSERT_TRUE(agent::ensure_tracefs().ok());
  uint32_t self = static_cast<uint32_t>(getpid());
  auto target_maps = agent::make_target_maps(self);
  ASSERT_TRUE(target_maps.ok()) << target_maps.status();
  const UniqueFd& tgids = target_maps->tgids;

  // The futex collector owns following child processes; the sched program relies on
  // its decision, so it is started first, as the session does.
  auto futex = agent::make_futex_collector(agent::FutexOptions{});
  agent::SharedMaps shared = target_maps->shared();
  auto fst = futex->start(shared);
  ASSERT_TRUE(fst.ok()) << fst;
  // The futex object's thread-state map, as the session hands it over; not its syscall
  // programs: here it traces futex syscalls itself (FutexOptions{}).
  futex->share(shared);
  shared.futex_sys_enter_prog = shared.futex_sys_exit_prog = -1;
  auto collector = agent::make_sched_collector(agent::SchedOptions{});
  auto st = collector->start(shared);
  ASSERT_TRUE(st.ok()) << st;

  model::Recording rec;
  rec.start_ns = agent::monotonic_ns();
  const int cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  const int spinners = 2 * cores;
  std::vector<SelfMeasured> spin(spinners), sleep(2);
  std::vector<std::thread> threads;
  for (auto& m : spin) threads.emplace_back(spinner_loop, &m, 1'500'000'000ull);
  for (auto& m : sleep) threads.emplace_back(sleeper_loop, &m, 150);
  // A child process: must join the tgid set.
  pid_t child = fork();
  if (child == 0) {
    usleep(300'000);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  std::atomic<bool> done{false};
  std::thread joiner([&] {
    for (auto& t : threads) t.join();
    done = true;
  });
  bool child_followed = false;
  while (!done) {
    collector->drain(rec);
    uint8_t v = 0;
    uint32_t c = static_cast<uint32_t>(child);
    if (bpf_map_lookup_elem(tgids.get(), &c, &v) == 0) child_followed = true;
    usleep(20'000);
  }
  joiner.join();
  waitpid(child, nullptr, 0);
  rec.end_ns = agent::monotonic_ns();
  rec.processes.push_back({});
  rec.processes.back().pid = self;
  rec.processes.back().maps = *agent::read_maps(self);
  collector->finish(rec);
  futex->finish(rec);
  EXPECT_TRUE(child_followed) << "the forked child was not added to ccprof_tgids";
  // Two targets now: the filters' one-tgid shortcut must be off, or they miss the child.
  uint32_t zero = 0, sole = ~0u;
  EXPECT_EQ(bpf_map_lookup_elem(target_maps->sole_tgid.get(), &zero, &sole), 0);
  EXPECT_EQ(sole, 0u) << "ccprof_sole_tgid still names one target after a child was followed";
  EXPECT_NE(rec.sched.thread(static_cast<uint32_t>(child)), nullptr) << "the sched program did not follow the child";

  ASSERT_TRUE(rec.has_sched);
  const profiler::SchedSection* section = &rec.sched;
  for (const auto& [what, n] : rec.losses)
    if (what.rfind("sched.", 0) == 0 && what != "sched.stacks_rate_limited") EXPECT_EQ(n, 0u) << what;

  uint64_t sum_expected = 0, sum_measured = 0;
  for (const auto& m : spin) {
    const profiler::SchedThread* t = section->thread(m.tid);
    ASSERT_NE(t, nullptr) << "spinner " << m.tid << " not recorded";
    EXPECT_NE(t->exited_ns, 0u);
    EXPECT_NE(t->created_ns, 0u);
    uint64_t self_runq = m.wall_ns - m.cpu_ns;
    // Per thread within 10% (or 15 ms: thread start and exit are outside its own clock).
    EXPECT_TRUE(close_to("spinner run-queue delay", t->runq_ns, self_runq, 0.10, 15'000'000));
    EXPECT_TRUE(close_to("spinner on-CPU time", t->on_cpu_ns, m.cpu_ns, 0.05, 15'000'000));
    EXPECT_GT(t->involuntary_switches, 0u);
    sum_expected += self_runq;
    sum_measured += t->runq_ns;
    std::printf("spinner tid %u: runq ccprof %.1f ms, self %.1f ms; on-cpu ccprof %.1f ms, self %.1f ms\n",
                m.tid, t->runq_ns / 1e6, self_runq / 1e6, t->on_cpu_ns / 1e6, m.cpu_ns / 1e6);
  }
  EXPECT_TRUE(close_to("total spinner run-queue delay", sum_measured, sum_expected, 0.05, 20'000'000));
  std::printf("run-queue delay of %d spinners on %d cores: ccprof %.1f ms, self-measured %.1f ms (%.2f%%)\n",
              spinners, cores, sum_measured / 1e6, sum_expected / 1e6,
              100.0 * (static_cast<double>(sum_measured) - sum_expected) / sum_expected);

  const int sleep_cls = static_cast<int>(profiler::SyscallClass::kSleep);
  for (const auto& m : sleep) {
    const profiler::SchedThread* t = section->thread(m.tid);
    ASSERT_NE(t, nullptr) << "sleeper " << m.tid << " not recorded";
    uint64_t self_off = m.wall_ns - m.cpu_ns;
    EXPECT_TRUE(close_to("sleeper off-CPU time", t->off_cpu_ns, self_off, 0.10, 15'000'000));
    EXPECT_TRUE(close_to("sleeper time in clock_nanosleep", t->syscall_ns[sleep_cls], m.asked_sleep_ns, 0.05,
                         5'000'000));
    EXPECT_EQ(t->syscall_count[sleep_cls], 150u);
    EXPECT_GE(t->voluntary_switches, 150u);
    std::printf("sleeper tid %u: off-cpu ccprof %.1f ms, self %.1f ms; sleep syscalls ccprof %.1f ms, self %.1f ms\n",
                m.tid, t->off_cpu_ns / 1e6, self_off / 1e6, t->syscall_ns[sleep_cls] / 1e6,
                m.asked_sleep_ns / 1e6);
  }

  // Long sleeps are recorded one by one, some with a stack that unwinds to sleeper_loop.
  size_t sleeps = 0, with_stack = 0, unwound_to_caller = 0;
  profiler::Symbolizer sym(rec.processes.back());
  for (const auto& s : section->long_syscalls) {
    if (s.tid != sleep[0].tid && s.tid != sleep[1].tid) continue;
    if (profiler::classify_syscall(s.nr) != profiler::SyscallClass::kSleep) continue;  // e.g. a sampled mmap
    ++sleeps;
    if (s.stack < 0) continue;
    ++with_stack;
    auto r = profiler::unwind_stack(sym, rec.stacks[s.stack]);
    for (const auto& f : r.frames)
      if (f.loc.function.find("sleeper_loop") != std::string::npos) {
        ++unwound_to_caller;
        break;
      }
  }
  std::printf("long sleeps %zu, with stack %zu, unwound to sleeper_loop %zu\n", sleeps, with_stack,
              unwound_to_caller);
  EXPECT_EQ(sleeps, 300u);
  EXPECT_GT(with_stack, 0u);
  EXPECT_GE(unwound_to_caller, with_stack * 9 / 10);
  EXPECT_FALSE(section->rss.empty());
}

}  // namespace
}  // namespace ccprof
