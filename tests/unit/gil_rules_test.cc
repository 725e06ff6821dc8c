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

TEST(GilRules, ThePythonLinesTheWaitersRanAreTheLocations) {
  Recording r = python_process(4);
  r.has_python = true;
  r.python.processes.push_back({100, "/usr/bin/python3.11", "3.11.2", true, ""});
  r.python.frames = {{"/w/crunch.py", "crunch_unit", 25}, {"/w/crunch.py", "crunch_until", 34},
                     {"/w/crunch.py", "crunch_unit", 24}};
  // 3 waits at line 25 (0.3 s), 1 at line 24 (0.1 s); one on another futex is not the GIL's.
  for (int i = 0; i < 3; ++i) r.python.waits.push_back({100, 101, 0x7000, 0, 100'000'000, 1000, {0, 1}});
  r.python.waits.push_back({100, 102, 0x7000, 0, 100'000'000, 3000, {2, 1}});
  r.python.waits.push_back({100, 102, 0x9000, 0, 900'000'000, 0, {1}});
  Index idx(r);
  idx.locks = {gil_part(4, 1.0, "_PyRuntime+432", "/usr/bin/python3.11")};
  auto f = run_rule("gil-contention", idx);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].locations.size(), 2u);  // two Python lines (the hand-built lock has no sampled site)
  EXPECT_EQ(f[0].locations[0].file, "/w/crunch.py");
  EXPECT_EQ(f[0].locations[0].function, "crunch_unit");
  EXPECT_EQ(f[0].locations[0].line, 25);
  EXPECT_NEAR(f[0].locations[0].share, 0.75, 1e-9);
  EXPECT_EQ(f[0].locations[1].line, 24);
  EXPECT_EQ(f[0].evidence["python"]["stacks"], 4);
  EXPECT_EQ(f[0].evidence["python"]["note"], "");
  EXPECT_NEAR(f[0].evidence["python"]["read_delay_max_s"].get<double>(), 3e-6, 1e-12);
  EXPECT_NE(f[0].explanation.find("crunch_unit at crunch.py:25"), std::string::npos) << f[0].explanation;
}

TEST(GilRules, AnUnsupportedInterpreterIsSaidAndKeepsTheScript) {
  Recording r = python_process(4);
  r.has_python = true;
  r.python.processes.push_back({100, "/usr/bin/python3.12", "3.12.1", false,
                                "CPython 3.12.1 in /usr/bin/python3.12: ccprof reads Python frames of CPython 3.11 "
                                "only; findings show native stacks only"});
  Index idx(r);
  idx.locks = {gil_part(4, 1.0, "_PyRuntime+432", "/usr/bin/python3.12")};
  auto f = run_rule("gil-contention", idx);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_FALSE(f[0].locations.empty());
  EXPECT_EQ(f[0].locations[0].file, "crunch.py");
  EXPECT_EQ(f[0].locations[0].line, 0);
  EXPECT_EQ(f[0].evidence["python"]["supported"], false);
  EXPECT_NE(f[0].explanation.find("CPython 3.11 only"), std::string::npos) << f[0].explanation;
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
