// `ccprof scale`'s runner with small shell commands (no root, no BPF).
#include "agent/scale_runner.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>

namespace ccprof::agent {
namespace {

TEST(ScaleRunner, ParsesThreadCounts) {
  auto t = parse_thread_counts("1,2, 4,8,16");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, (std::vector<int>{1, 2, 4, 8, 16}));
  EXPECT_FALSE(parse_thread_counts("").ok());
  EXPECT_FALSE(parse_thread_counts("1,two").ok());
  EXPECT_FALSE(parse_thread_counts("0,1").ok());
  EXPECT_FALSE(parse_thread_counts("1,2,2").ok());
  EXPECT_FALSE(parse_thread_counts("1.5").ok());
}

TEST(ScaleRunner, SubstitutesEveryPlaceholder) {
  auto argv = substitute_threads({"w", "--threads={threads}", "-n", "{threads}", "x{threads}y{threads}"}, 8);
  EXPECT_EQ(argv, (std::vector<std::string>{"w", "--threads=8", "-n", "8", "x8y8"}));
}

TEST(ScaleRunner, RunsACommandAndCapturesItsOutput) {
  auto r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_GT(r->wall_s, 0);
}

// A command that leaves a process running in the background (`server &`) hands it its
// stdout: the run ends at the command's own exit plus kOutputGraceS, not when that process
// closes the pipe (it hung for as long as the process lived).
TEST(ScaleRunner, ABackgroundProcessHoldingTheOutputDoesNotHoldTheRun) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_command({"sh", "-c", "sleep 30 & echo $!; echo 7 ops/s"});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.status();
  pid_t bg = std::atoi(r->out.c_str());
  if (bg > 0) kill(bg, SIGKILL);
  EXPECT_LT(took, kOutputGraceS + 5);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_NE(r->out.find("\n7 ops/s\n"), std::string::npos) << r->out;
  EXPECT_TRUE(r->output_left_open);
  EXPECT_LT(r->wall_s, kOutputGraceS) << "the wall time is the command's, not its background process's";
}

// What a background process writes within the grace after the command exits is still
// read, and a pipe it then closes is not "left open".
TEST(ScaleRunner, OutputSoonAfterTheExitIsKept) {
  auto r = run_command({"sh", "-c", "(sleep 0.3; echo late) & echo early"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "early\nlate\n");
  EXPECT_FALSE(r->output_left_open);
  EXPECT_LT(r->wall_s, 0.3);
}

TEST(ScaleRunner, CommandNotFoundIsAnError) {
  auto r = run_command({"/nonexistent/ccprof-no-such-program"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("command not found: /nonexistent/ccprof-no-such-program"), std::string::npos);
}

TEST(ScaleRunner, ExtractsTheFirstCaptureGroup) {
  auto v = extract_metric("threads=4\nthroughput=1234.5 ops/s\n", "throughput=([0-9.]+)");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_DOUBLE_EQ(*v, 1234.5);
  auto whole = extract_metric("took 42\n", "[0-9]+");
  ASSERT_TRUE(whole.ok());
  EXPECT_DOUBLE_EQ(*whole, 42);
  EXPECT_FALSE(extract_metric("nothing here", "throughput=([0-9.]+)").ok());
  EXPECT_FALSE(extract_metric("throughput=abc", "throughput=(\\w+)").ok());
  EXPECT_FALSE(extract_metric("x", "(unclosed").ok());
}

TEST(ScaleRunner, MeasuresEveryThreadCountWithTheMedian) {
  ScaleOptions o;
  // Prints 100*N, except that the second run prints 10x more: the median ignores it.
  o.command = {"sh", "-c", "f=$0.n; c=$(cat $f 2>/dev/null || echo 0); echo $((c+1)) > $f; "
                           "if [ $c = 1 ]; then echo rate=$(({threads}*1000)); else echo rate=$(({threads}*100)); fi",
               ::testing::TempDir() + "scale_runner_median_{threads}"};
  for (int n : {1, 2, 3}) std::remove((::testing::TempDir() + "scale_runner_median_" + std::to_string(n) + ".n").c_str());
  o.threads = {1, 2, 3};
  o.runs = 3;
  o.metric = "rate=([0-9]+)";
  auto m = measure_scaling(o);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->steps.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(m->steps[i].threads, i + 1);
    EXPECT_EQ(m->steps[i].throughputs.size(), 3u);
    EXPECT_DOUBLE_EQ(m->steps[i].median, 100.0 * (i + 1));
  }
}

TEST(ScaleRunner, WithoutAMetricThroughputIsOneOverWallTime) {
  ScaleOptions o;
  o.command = {"sh", "-c", "sleep 0.0{threads}"};
  o.threads = {1, 5};
  o.runs = 1;
  auto m = measure_scaling(o);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GT(m->steps[0].median, m->steps[1].median);
  EXPECT_NEAR(m->steps[1].median, 1 / m->steps[1].wall_s[0], 1e-9);
}

TEST(ScaleRunner, AFailedRunNamesTheThreadCountAndCommand) {
  ScaleOptions o;
  o.command = {"sh", "-c", "if [ {threads} -ge 4 ]; then echo too many >&2; exit 2; fi; echo rate=1"};
  o.threads = {1, 2, 4};
  o.runs = 1;
  o.metric = "rate=([0-9]+)";
  auto m = measure_scaling(o);
  ASSERT_FALSE(m.ok());
  std::string msg(m.status().message());
  EXPECT_NE(msg.find("at 4 threads"), std::string::npos) << msg;
  EXPECT_NE(msg.find("exited with status 2: too many"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sh -c if [ 4 -ge 4 ]"), std::string::npos) << msg;
}

TEST(ScaleRunner, NoMetricMatchIsAnError) {
  ScaleOptions o;
  o.command = {"echo", "{threads}"};
  o.threads = {1};
  o.runs = 1;
  o.metric = "throughput=([0-9.]+)";
  auto m = measure_scaling(o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("at 1 thread, run 1 of 1 (echo 1): its output has no match"), std::string::npos)
      << m.status();
}

TEST(ScaleRunner, RejectsACommandWithoutThePlaceholder) {
  ScaleOptions o;
  o.command = {"echo", "hi"};
  o.threads = {1, 2};
  auto m = measure_scaling(o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("{threads}"), std::string::npos);
}

TEST(ScaleRunner, Median) {
  EXPECT_EQ(median({}), 0);
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 2, 3}), 2.5);
}

}  // namespace
}  // namespace ccprof::agent
