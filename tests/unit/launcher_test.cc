#include "agent/launcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <future>

namespace ccprof::agent {
namespace {

// A child held before exec must exit when ccprof gives up on it (a collector that
// cannot start, a bad --sampler): abandon() closes the go pipe and reaps the child. The
// child must not keep the pipe's write end open itself, or it never sees EOF and
// abandon() waits for ever (it did: `ccprof run --sampler pmu` hung on a machine
// without a PMU, and SIGTERM could not stop it).
TEST(LauncherTest, AnAbandonedHeldChildExitsWithoutExec) {
  auto launched = launch({"/bin/sh", "-c", "exit 0"}, LaunchOptions{.hold_before_exec = true});
  ASSERT_TRUE(launched.ok()) << launched.status();
  const pid_t pid = launched->pid;
  auto done = std::async(std::launch::async, [&] { abandon(*launched); });
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    kill(pid, SIGKILL);  // unblock abandon()'s waitpid so the test can end
    done.wait();
    FAIL() << "abandon() did not return within 10 s: the held child never saw the go pipe close";
  }
  EXPECT_EQ(launched->pid, -1);
  EXPECT_EQ(kill(pid, 0), -1) << "the child is still there after abandon()";
}

// The held child execs once it is let go, and a command that cannot be executed is
// reported with exec's reason.
TEST(LauncherTest, AHeldChildExecsWhenLetGo) {
  auto launched = launch({"/bin/sh", "-c", "exit 3"}, LaunchOptions{.hold_before_exec = true});
  ASSERT_TRUE(launched.ok()) << launched.status();
  ASSERT_TRUE(wait_for_exec(*launched, "sh").ok());
  int status = 0;
  ASSERT_EQ(waitpid(launched->pid, &status, 0), launched->pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

}  // namespace
}  // namespace ccprof::agent
