#include "report/output_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace ccprof::report {
namespace {

absl::Status error(int err, const std::string& msg) {
  const std::string m = absl::StrCat(msg, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(m);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(m);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(m);
  return absl::InternalError(m);
}

// Writes all of `data` to `fd`; 0 or the errno.
int write_all(int fd, const std::string& data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

absl::Status prepare_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return error(ec.value(), absl::StrCat("cannot create output folder ", dir));
  std::string probe = dir + "/.ccprof-write-test-XXXXXX";
  const int fd = mkstemp(probe.data());
  if (fd < 0) return error(errno, absl::StrCat("cannot write to output folder ", dir));
  // A page of data too: a folder on a full filesystem still lets an empty file be made.
  const int err = write_all(fd, std::string(4096, '\0'));
  const int cerr = close(fd) == 0 ? 0 : errno;
  unlink(probe.c_str());
  if (err || cerr) return error(err ? err : cerr, absl::StrCat("cannot write to output folder ", dir));
  return absl::OkStatus();
}

absl::Status write_output_set(const std::string& dir, const std::vector<OutputFile>& files) {
  std::vector<std::string> temps;
  auto discard = [&temps]() {
    for (const auto& t : temps) unlink(t.c_str());
  };
  for (const auto& f : files) {
    const std::string path = dir + "/" + f.name;
    std::string tmp = dir + "/." + f.name + ".tmp-XXXXXX";
    const int fd = mkstemp(tmp.data());
    if (fd < 0) {
      const int e = errno;
      discard();
      return error(e, absl::StrCat("cannot write ", f.what, " ", path, ": cannot create a temporary file"));
    }
    temps.push_back(tmp);
    int e = fchmod(fd, 0644) != 0 ? errno : 0;  // mkstemp makes 0600; outputs are meant to be shared
    if (!e) e = write_all(fd, f.content);
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (e) {
      discard();
      return error(e, absl::StrCat("cannot write ", f.what, " ", path, " (no output was changed)"));
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = dir + "/" + files[i].name;
    if (rename(temps[i].c_str(), path.c_str()) != 0) {
      const int e = errno;
      discard();  // those not yet renamed; the renamed ones are whole files
      return error(e, absl::StrCat("cannot write ", files[i].what, " ", path, ": cannot rename its temporary"));
    }
  }
  // Make the renames durable; failing here changes nothing a reader sees.
  if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace ccprof::report
