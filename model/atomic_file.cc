#include "model/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace ccprof::model {
namespace {

absl::Status error(int err, const std::string& what, const std::string& path, const std::string& step) {
  std::string msg = absl::StrCat("cannot write ", what, what.empty() ? "" : " ", path, ": ", step, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::Status write_file_atomically(const std::string& path, std::string_view content, const std::string& what) {
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // Same folder as the target, so the rename stays within one filesystem.
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = mkstemp(tmp.data());
  if (fd < 0) return error(errno, what, path, "cannot create a temporary file in " + dir.string());
  auto fail = [&](int err, const std::string& step) {
    close(fd);
    unlink(tmp.c_str());
    return error(err, what, path, step);
  };
  // mkstemp makes 0600; outputs are meant to be read by others.
  if (fchmod(fd, 0644) != 0) return fail(errno, "cannot set the temporary file's mode");
  const char* p = content.data();
  size_t left = content.size();
  while (left) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(n < 0 ? errno : EIO, "cannot write " + tmp);
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail(errno, "cannot flush " + tmp);
  if (close(fd) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return error(err, what, path, "cannot close " + tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return error(err, what, path, "cannot rename " + tmp + " to it");
  }
  // Make the rename itself durable; failing here changes nothing a reader sees.
  if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace ccprof::model
