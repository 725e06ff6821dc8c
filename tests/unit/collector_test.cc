// SinceLastCut (agent/collector.h): the kernel's totals handed out per window, as
// `ccprof serve` cuts them without detaching the probes.
#include "agent/collector.h"

#include <gtest/gtest.h>

#include <string>

namespace ccprof::agent {
namespace {

TEST(SinceLastCut, FirstHandOverIsTheWholeTotal) {
  SinceLastCut<std::string> part;
  EXPECT_EQ(part("waits", 42), 42u);  // `ccprof run`: one hand-over, nothing changes
}

TEST(SinceLastCut, LaterHandOversAreThePartSinceThePreviousOne) {
  SinceLastCut<std::string> part;
  uint64_t sum = part("waits", 10);
  sum += part("waits", 25);
  sum += part("waits", 25);  // nothing new in that window
  sum += part("waits", 31);
  EXPECT_EQ(sum, 31u);  // the windows add up to the total: nothing lost, nothing twice
}

TEST(SinceLastCut, KeysAreIndependent) {
  SinceLastCut<std::pair<uint32_t, int>> part;
  EXPECT_EQ(part({7, 0}, 100), 100u);
  EXPECT_EQ(part({8, 0}, 5), 5u);
  EXPECT_EQ(part({7, 1}, 3), 3u);
  EXPECT_EQ(part({7, 0}, 130), 30u);
  EXPECT_EQ(part({8, 0}, 9), 4u);
}

TEST(SinceLastCut, ATotalThatWentDownStartsOver) {
  // A tid reused by a new thread: its totals count from zero again.
  SinceLastCut<int> part;
  EXPECT_EQ(part(1, 500), 500u);
  EXPECT_EQ(part(1, 20), 20u);
  EXPECT_EQ(part(1, 50), 30u);
}

}  // namespace
}  // namespace ccprof::agent
