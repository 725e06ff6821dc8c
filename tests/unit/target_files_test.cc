#include "model/target_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "agent/proc.h"

namespace ccprof::model {
namespace {

// A mapping of a file unlinked after mmap: /proc/self/maps names it "PATH (deleted)",
// a path nothing can open, yet map_files still reaches the very file.
TEST(TargetFiles, ReachesADeletedMappedFileByItsMapping) {
  char path[] = "/tmp/ccprof-target-files-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string content = "not elf, but a mapped file all the same";
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  void* mem = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(mem, MAP_FAILED);
  close(fd);
  ASSERT_EQ(unlink(path), 0);

  const uint32_t pid = static_cast<uint32_t>(getpid());
  auto maps = agent::read_maps(pid);
  ASSERT_TRUE(maps.ok());
  const MemoryMap* mapped = nullptr;
  for (const auto& m : *maps)
    if (m.start == reinterpret_cast<uint64_t>(mem)) mapped = &m;
  ASSERT_NE(mapped, nullptr);
  ASSERT_NE(mapped->path.find("(deleted)"), std::string::npos) << mapped->path;

  TargetFiles files;
  files.capture(pid, *maps);
  const int kept = files.module_fd(pid, mapped->path, mapped->inode);
  if (kept < 0 && geteuid() != 0) GTEST_SKIP() << "/proc/PID/map_files needs CAP_SYS_ADMIN";
  ASSERT_GE(kept, 0);
  std::string back(content.size(), '\0');
  ASSERT_EQ(pread(kept, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, content);
  // Another inode under the same path is not that file.
  EXPECT_EQ(files.module_fd(pid, mapped->path, mapped->inode + 1), -1);
  munmap(mem, 4096);
}

TEST(TargetFiles, AProcessInTheHostsRootHasNoRootOfItsOwn) {
  const uint32_t pid = static_cast<uint32_t>(getpid());
  auto maps = agent::read_maps(pid);
  ASSERT_TRUE(maps.ok());
  TargetFiles files;
  files.capture(pid, *maps);
  EXPECT_FALSE(files.has_own_root(pid));
  // Then paths are the host's, read by the callers' own fallback.
  EXPECT_EQ(files.open_in_root(pid, "/etc/hostname"), -1);
}

}  // namespace
}  // namespace ccprof::model
