#include "agent/proc.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace ccprof::agent {
namespace {

TEST(Proc, ParsesMapsLinesWithAndWithoutPaths) {
  auto maps = parse_maps(
      "55d1c0a00000-55d1c0a01000 r--p 00000000 fd:01 1234    /usr/bin/prog\n"
      "55d1c0a01000-55d1c0a05000 r-xp 00001000 fd:01 1234    /usr/bin/prog\n"
      "7ffd0000-7ffd1000 rw-p 00000000 00:00 0 \n"
      "7f0000000000-7f0000021000 rw-p 00000000 00:00 0          [heap]\n"
      "7f1000000000-7f1000001000 r-xp 00000000 fd:01 99 /tmp/a file (deleted)\n"
      "garbage line\n");
  ASSERT_EQ(maps.size(), 5u);
  EXPECT_EQ(maps[1].start, 0x55d1c0a01000u);
  EXPECT_EQ(maps[1].offset, 0x1000u);
  EXPECT_EQ(maps[1].perms, "r-xp");
  EXPECT_EQ(maps[1].path, "/usr/bin/prog");
  EXPECT_EQ(maps[1].inode, 1234u);
  EXPECT_EQ(maps[2].path, "");
  EXPECT_EQ(maps[3].path, "[heap]");
  EXPECT_EQ(maps[4].path, "/tmp/a file (deleted)");
}

TEST(Proc, ReadsThisProcess) {
  uint32_t pid = static_cast<uint32_t>(getpid());
  EXPECT_TRUE(process_exists(pid));
  EXPECT_FALSE(process_exists(999999999));
  auto maps = read_maps(pid);
  ASSERT_TRUE(maps.ok());
  EXPECT_FALSE(maps->empty());
  EXPECT_FALSE(list_threads(pid).empty());
  EXPECT_FALSE(read_cmdline(pid).empty());
  EXPECT_GT(read_rss_bytes(pid), 0u);
  EXPECT_FALSE(read_maps(999999999).ok());
}

}  // namespace
}  // namespace ccprof::agent
