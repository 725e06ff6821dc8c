#include "model/untrusted_input.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "model/printable.h"

namespace ccprof::model {
namespace {

using nlohmann::json;

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Counts depth and items and builds nothing; returning false stops nlohmann's parser
// at once, so its recursion never goes deeper than max_depth + 1.
class LimitCheck final : public nlohmann::json_sax<json> {
 public:
  explicit LimitCheck(const CborLimits& limits) : limits_(limits) {}
  std::string error;

  bool null() override { return item(); }
  bool boolean(bool) override { return item(); }
  bool number_integer(number_integer_t) override { return item(); }
  bool number_unsigned(number_unsigned_t) override { return item(); }
  bool number_float(number_float_t v, const string_t&) override {
    // A float read into an integer field is converted with static_cast, undefined
    // behaviour outside that type's range (a fuzzed NaN did it): only values every
    // integer type ccprof reads can hold are accepted; recordings hold no others.
    if (!(v >= 0 && v < 2147483648.0)) {
      error = absl::StrCat("a floating-point value (", v, ") outside [0, 2^31)");
      return false;
    }
    return item();
  }
  bool string(string_t&) override { return item(); }
  bool binary(binary_t&) override { return item(); }
  bool key(string_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    error = absl::StrCat("malformed CBOR: ", ex.what());
    return false;
  }

 private:
  bool item() {
    if (++items_ <= limits_.max_items) return true;
    error = absl::StrCat("more than ", limits_.max_items, " items");
    return false;
  }
  bool open() {
    if (!item()) return false;
    if (++depth_ <= limits_.max_depth) return true;
    error = absl::StrCat("nested deeper than ", limits_.max_depth, " levels");
    return false;
  }
  bool close() {
    --depth_;
    return true;
  }
  const CborLimits& limits_;
  size_t depth_ = 0;
  uint64_t items_ = 0;
};

// Kernel interfaces whose "regular files" are not files: /proc/kcore is an ELF image
// of kernel memory, others change state when read. A recording has no business naming
// them; checked on the open descriptor, so a symlink elsewhere cannot hide one.
const char* kernel_interface(int fd) {
  struct statfs fs {};
  if (fstatfs(fd, &fs) != 0) return nullptr;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case PROC_SUPER_MAGIC: return "/proc";
    case SYSFS_MAGIC: return "/sys";
    case DEBUGFS_MAGIC: return "debugfs";
    case TRACEFS_MAGIC: return "tracefs";
    case SECURITYFS_MAGIC: return "securityfs";
    case BPF_FS_MAGIC: return "bpffs";
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC: return "cgroupfs";
    case EFIVARFS_MAGIC: return "efivarfs";
    default: return nullptr;
  }
}

}  // namespace

absl::StatusOr<int> open_regular_file(const std::string& path, const std::string& what_arg) {
  const std::string what = what_arg.empty() ? "" : what_arg + " ";
  struct stat before {};
  if (stat(path.c_str(), &before) != 0)
    return absl::NotFoundError(absl::StrCat("cannot open ", what, printable(path), ": ", strerror(errno)));
  if (!S_ISREG(before.st_mode))
    return absl::InvalidArgumentError(
        absl::StrCat("will not open ", what, printable(path), ": it is ", file_kind(before.st_mode)));
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    std::string msg = absl::StrCat("cannot open ", what, printable(path), ": ", strerror(e));
    return e == EACCES || e == EPERM ? absl::PermissionDeniedError(msg) : absl::NotFoundError(msg);
  }
  struct stat after {};
  if (fstat(fd, &after) != 0 || !S_ISREG(after.st_mode) || after.st_dev != before.st_dev ||
      after.st_ino != before.st_ino) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("will not open ", what, printable(path), ": it changed while being opened"));
  }
  if (const char* fs = kernel_interface(fd)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("will not open ", what, printable(path), ": it is a kernel interface on ", fs, ", not a file"));
  }
  return fd;
}

absl::StatusOr<std::string> read_regular_file(const std::string& path, uint64_t max_bytes,
                                              const std::string& what) {
  auto fd = open_regular_file(path, what);
  if (!fd.ok()) return fd.status();
  struct stat st {};
  if (fstat(*fd, &st) != 0 || static_cast<uint64_t>(st.st_size) > max_bytes) {
    close(*fd);
    return absl::InvalidArgumentError(absl::StrCat(printable(path), " is larger than the ", max_bytes,
                                                   " bytes ccprof reads from such a file"));
  }
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = read(*fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      close(*fd);
      return absl::DataLossError(absl::StrCat("cannot read ", printable(path), ": ", strerror(e)));
    }
    if (n == 0) break;  // shrank while read: what is there is checked by the caller
    got += static_cast<size_t>(n);
  }
  close(*fd);
  data.resize(got);
  return data;
}

absl::StatusOr<json> parse_cbor_bounded(const uint8_t* data, size_t len, const CborLimits& limits) {
  LimitCheck check(limits);
  bool ok = false;
  try {
    ok = json::sax_parse(data, data + len, &check, json::input_format_t::cbor, /*strict=*/true);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("malformed CBOR: ", e.what()));
  }
  if (!ok) return absl::DataLossError(check.error.empty() ? "malformed CBOR" : check.error);
  try {
    return json::from_cbor(data, data + len);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("malformed CBOR: ", e.what()));
  }
}

}  // namespace ccprof::model
