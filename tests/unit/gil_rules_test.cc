#include "profiler/gil_rules.h"

#include <gtest/gtest.h>

#include "profiler/lock_table.h"
#include "tests/unit/rule_test_util.h"

namespace ccprof::profiler {
namespace {

TEST(GilRules, PythonObjectsAreRecognised) {
  EXPECT_TRUE(is_python_object("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"));
  EXPECT_TRUE(is_python_object("/usr/bin/python3.11"));
  EXPECT_FALSE(is_python_object("/usr/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_FALSE(is_python_object("/work/build/workloads/s01-lock-contention"));
}

LockInfo gil_part(uint32_t waiters, double wait_each_s, const std::string& name, const std::string& module) {
  LockInfo l;
  l.pid = 100;
  l.uaddr = 0x7000;
  l.type = "condvar";
  l.data.name = name;
  l.data.module = module;
  l.data.region = "global";
  for (uint32_t t = 0; t < waiters; ++t) {
    l.waiters[100 + t] = {100, wait_each_s};
    l.waits += 100;
    l.total_wait_s += wait_each_s;
  }
  return l;
}

Recording python_process(int threads) {
  Recording r;
  r.start_ns = 1'000'000'000;
  r.end_ns = 3'000'000'000;
  ProcessInfo p;
  p.pid = 100;
  p.cmdline = {"/usr/bin/python3", "crunch.py"};
  r.processes.push_back(p);
  r.online_cpus = 2;
  for (int i = 0; i < threads; ++i) r.threads.push_back({100u + i, 100, "python3", r.start_ns, r.end_ns});
  return r;
}

TEST(GilRules, ThreadsWaitingOnTheRuntimeGilRaiseGilContention) {
  Recording r = python_process(4);
  Index idx(r);
  idx.locks = {gil_part(4, 1.0, "_PyRuntime+432", "/usr/lib/libpython3.11.so.1.0")};
  auto f = run_rule("gil-contention", idx);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind, "gil-contention");
  EXPECT_EQ(f[0].remedy.kind, "multiprocessing");
  EXPECT_EQ(f[0].remedy.language, "python");
  EXPECT_EQ(f[0].evidence["threads"], 4);
  EXPECT_NEAR(f[0].evidence["wait_share"].get<double>(), 0.5, 1e-9);
  ASSERT_FALSE(f[0].locations.empty());
  EXPECT_EQ(f[0].locations[0].file, "crunch.py");
}

TEST(GilRules, OtherFutexesAndLightWaitingDoNotRaiseIt) {
  Recording r = python_process(4);
  Index ctx(r);
  auto gil_rules = [&ctx](std::vector<LockInfo> locks) {
    ctx.locks = std::move(locks);
    return run_rule("gil-contention", ctx);
  };
  // A futex in a C library, not the interpreter's runtime state.
  EXPECT_TRUE(gil_rules({gil_part(4, 1.0, "g_queue", "/usr/lib/libfoo.so")}).empty());
  // The GIL, but threads wait 1% of their time (I/O-bound threads release it).
  EXPECT_TRUE(gil_rules({gil_part(4, 0.02, "_PyRuntime+432", "/usr/bin/python3.11")}).empty());
  // One waiter is not contention.
  EXPECT_TRUE(gil_rules({gil_part(1, 1.5, "_PyRuntime+432", "/usr/bin/python3.11")}).empty());
}

}  // namespace
}  // namespace ccprof::profiler
