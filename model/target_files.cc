#include "model/target_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "model/elf_build_id.h"
#include "model/untrusted_input.h"

namespace ccprof::model {
namespace {

// A bound on descriptors kept per profile: a target maps a few dozen files; a process
// that maps thousands (a plugin host) keeps the rest on the host-path fallback.
constexpr size_t kMaxModules = 2048;

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

}  // namespace

TargetFiles::~TargetFiles() {
  for (auto& [pid, fd] : roots_) close(fd);
  for (auto& [key, fd] : modules_) close(fd);
}

void TargetFiles::capture(uint32_t pid, const std::vector<MemoryMap>& maps) {
  // Checked at every snapshot until the root differs: a launcher (`unshare ... chroot`,
  // a container runtime) changes root just before it execs the program itself.
  if (!roots_.count(pid)) {
    const int fd = open(absl::StrCat("/proc/", pid, "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat theirs {}, ours {};
    if (fd >= 0 && fstat(fd, &theirs) == 0 && stat("/", &ours) == 0 && !same_file(theirs, ours))
      roots_[pid] = fd;
    else if (fd >= 0)
      close(fd);
  }
  for (const auto& m : maps) {
    if (m.path.empty() || m.path[0] != '/' || m.inode == 0 || modules_.size() >= kMaxModules) continue;
    auto key = std::make_tuple(pid, m.path, m.inode);
    if (modules_.count(key)) continue;
    // map_files names the mapped file itself, in any mount namespace and after unlink.
    // open_regular_file() refuses devices and kernel interfaces a mapping may also be.
    const std::string link = absl::StrFormat("/proc/%u/map_files/%x-%x", pid, m.start, m.end);
    auto fd = open_regular_file(link);
    if (!fd.ok()) continue;  // the range went away, or not a regular file
    struct stat st {};
    if (fstat(*fd, &st) != 0 || st.st_ino != m.inode) {
      close(*fd);  // remapped between reading maps and opening: not the file recorded
      continue;
    }
    modules_[key] = *fd;
  }
}

int TargetFiles::module_fd(uint32_t pid, const std::string& path, uint64_t inode) const {
  auto it = modules_.find(std::make_tuple(pid, path, inode));
  return it == modules_.end() ? -1 : it->second;
}

std::string TargetFiles::build_id(uint32_t pid, const std::string& path, uint64_t inode) const {
  const int fd = module_fd(pid, path, inode);
  return fd < 0 ? "" : elf_build_id_hex(fd);
}

int TargetFiles::open_in_root(uint32_t pid, const std::string& path) const {
  auto it = roots_.find(pid);
  if (it == roots_.end() || path.empty() || path[0] != '/') return -1;
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const int pfd = static_cast<int>(syscall(SYS_openat2, it->second, path.c_str(), &how, sizeof how));
  if (pfd < 0) return -1;
  // Reopened through the O_PATH descriptor with the checks every untrusted path gets
  // (a regular file, not a FIFO, not /proc or /sys inside the container).
  auto fd = open_regular_file(absl::StrCat("/proc/self/fd/", pfd));
  close(pfd);
  return fd.ok() ? *fd : -1;
}

}  // namespace ccprof::model
