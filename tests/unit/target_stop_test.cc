// Stopping a launched target (agent/target_stop.h), with real child processes and
// short grace periods: no root needed.
#include "agent/target_stop.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace ccprof::agent {
namespace {

using Clock = std::chrono::steady_clock;

// A child that ignores `ignored` (0: nothing) and otherwise waits to be signalled.
pid_t spawn(int ignored1 = 0, int ignored2 = 0) {
  pid_t pid = fork();
  if (pid == 0) {
    if (ignored1) signal(ignored1, SIG_IGN);
    if (ignored2) signal(ignored2, SIG_IGN);
    for (;;) pause();
  }
  usleep(20'000);  // let it install its dispositions
  return pid;
}

class TargetStopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_stop_signal = 0;
    g_stop_signal_from_terminal = 0;
  }
};

TEST_F(TargetStopTest, DurationEndsWithSigtermWhenTheTargetObeys) {
  pid_t pid = spawn();
  TargetStop s = stop_launched_target(pid, /*interrupted=*/false, 2.0);
  EXPECT_TRUE(s.sent_term);
  EXPECT_FALSE(s.sent_kill);
  ASSERT_TRUE(WIFSIGNALED(s.wait_status));
  EXPECT_EQ(WTERMSIG(s.wait_status), SIGTERM);
  EXPECT_EQ(kill(pid, 0), -1);  // reaped
}

TEST_F(TargetStopTest, IgnoredSigtermGetsTheGracePeriodThenSigkill) {
  pid_t pid = spawn(SIGTERM);
  auto t0 = Clock::now();
  TargetStop s = stop_launched_target(pid, false, 0.3);
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(s.sent_term);
  EXPECT_TRUE(s.sent_kill);
  ASSERT_TRUE(WIFSIGNALED(s.wait_status));
  EXPECT_EQ(WTERMSIG(s.wait_status), SIGKILL);
  EXPECT_GE(waited, 0.3);
  EXPECT_LT(waited, 3.0);
}

TEST_F(TargetStopTest, AnInterruptNotFromTheTerminalIsForwardedAndTheTargetEndsOnItsOwn) {
  pid_t pid = spawn();
  g_stop_signal = SIGINT;
  g_stop_signal_from_terminal = 0;
  TargetStop s = stop_launched_target(pid, /*interrupted=*/true, 2.0);
  EXPECT_FALSE(s.sent_term);
  EXPECT_FALSE(s.sent_kill);
  ASSERT_TRUE(WIFSIGNALED(s.wait_status));
  EXPECT_EQ(WTERMSIG(s.wait_status), SIGINT);
}

TEST_F(TargetStopTest, AnInterruptFromTheTerminalIsNotSentTwice) {
  // The terminal delivered it to the target already (here: the target ignores SIGINT, as
  // if it had handled it): ccprof waits the grace period, then SIGTERM, no SIGINT.
  pid_t pid = spawn(SIGINT);
  g_stop_signal = SIGINT;
  g_stop_signal_from_terminal = 1;
  auto t0 = Clock::now();
  TargetStop s = stop_launched_target(pid, true, 0.3);
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 0.3);
  EXPECT_TRUE(s.sent_term);
  EXPECT_FALSE(s.sent_kill);
  ASSERT_TRUE(WIFSIGNALED(s.wait_status));
  EXPECT_EQ(WTERMSIG(s.wait_status), SIGTERM);
}

TEST_F(TargetStopTest, HurryingSkipsTheGraceAndKills) {
  pid_t pid = spawn(SIGINT, SIGTERM);
  g_stop_signal = SIGINT;
  g_stop_signal_from_terminal = 1;
  auto t0 = Clock::now();
  bool second = false;
  TargetStop s = stop_launched_target(pid, true, 30.0, [&] {
    second = second || Clock::now() - t0 > std::chrono::milliseconds(200);
    return second;
  });
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5.0);
  EXPECT_TRUE(s.sent_kill);
  ASSERT_TRUE(WIFSIGNALED(s.wait_status));
  EXPECT_EQ(WTERMSIG(s.wait_status), SIGKILL);
}

TEST_F(TargetStopTest, ATargetDiesWithItsParent) {
  // parent (forked here) -> child that called die_with_parent(); killing the parent
  // with SIGKILL must take the child with it.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t parent = fork();
  if (parent == 0) {
    const pid_t me = getpid();
    pid_t child = fork();
    if (child == 0) {
      if (!die_with_parent(me)) _exit(3);
      for (;;) pause();
    }
    (void)!write(fds[1], &child, sizeof child);
    for (;;) pause();
  }
  pid_t child = 0;
  ASSERT_EQ(read(fds[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  usleep(50'000);
  ASSERT_EQ(kill(child, 0), 0);
  kill(parent, SIGKILL);
  waitpid(parent, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = kill(child, 0) != 0;  // reparented to init, which reaps it
    usleep(10'000);
  }
  EXPECT_TRUE(gone) << "the child outlived its parent";
  if (!gone) kill(child, SIGKILL);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace ccprof::agent
