#include "profiler/debuginfo_lookup.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/untrusted_input.h"

namespace ccprof::profiler {
namespace {

constexpr const char* kDebugRoot = "/usr/lib/debug";

// Returns an open fd of `path` when it is a regular file, else -1.
int try_open(const std::string& path) {
  auto fd = model::open_regular_file(path);
  return fd.ok() ? *fd : -1;
}

bool crc_matches(int fd, GElf_Word want) {
  std::vector<unsigned char> buf(1 << 16);
  uLong crc = crc32(0, nullptr, 0);
  off_t off = 0;
  while (true) {
    ssize_t n = pread(fd, buf.data(), buf.size(), off);
    if (n < 0) return false;
    if (n == 0) break;
    crc = crc32(crc, buf.data(), static_cast<uInt>(n));
    off += n;
  }
  return static_cast<GElf_Word>(crc) == want;
}

// Where separate debug files are looked up by build ID: /usr/lib/debug (Debian's
// -dbgsym packages), then the absolute directories of $CCPROF_DEBUGINFO_PATH
// (colon-separated), each as DIR/.build-id/xx/yyyy.debug.
const std::vector<std::string>& build_id_roots() {
  static const std::vector<std::string> roots = [] {
    std::vector<std::string> r = {kDebugRoot};
    if (const char* extra = getenv("CCPROF_DEBUGINFO_PATH"); extra && *extra) {
      std::string list = extra;
      size_t start = 0;
      while (start <= list.size()) {
        size_t end = list.find(':', start);
        if (end == std::string::npos) end = list.size();
        std::string dir = list.substr(start, end - start);
        if (!dir.empty() && dir[0] == '/') r.push_back(dir);
        start = end + 1;
      }
    }
    return r;
  }();
  return roots;
}

int found(int fd, const std::string& path, char** name) {
  *name = strdup(path.c_str());
  return fd;
}

// `path` as the target sees it (inside its own root), else on the host.
int open_for_target(const DebuginfoSearch* search, const std::string& path) {
  if (search && search->files) {
    if (const int fd = search->files->open_in_root(search->pid, path); fd >= 0) return fd;
  }
  return try_open(path);
}

}  // namespace

int find_debuginfo_safely(Dwfl_Module* mod, void** userdata, const char*, Dwarf_Addr, const char* file_name,
                          const char* debuglink_file, GElf_Word debuglink_crc, char** debuginfo_file_name) {
  const auto* search = userdata ? static_cast<const DebuginfoSearch*>(*userdata) : nullptr;
  // An absolute name is a .gnu_debugaltlink (dwz): only under the debug root.
  if (debuglink_file && debuglink_file[0] == '/') {
    const std::string alt = debuglink_file;
    if (!absl::StartsWith(alt, absl::StrCat(kDebugRoot, "/")) || absl::StrContains(alt, "/../")) return -1;
    const int fd = open_for_target(search, alt);
    return fd >= 0 ? found(fd, alt, debuginfo_file_name) : -1;
  }
  // By build ID, as Debian's -dbgsym packages install it.
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  const int len = dwfl_module_build_id(mod, &bits, &vaddr);
  if (len >= 2 && bits) {
    std::string hex;
    for (int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(bits[i], absl::kZeroPad2));
    const std::string rel = absl::StrCat("/.build-id/", hex.substr(0, 2), "/", hex.substr(2), ".debug");
    if (search && search->files) {
      const std::string path = absl::StrCat(kDebugRoot, rel);
      if (const int fd = search->files->open_in_root(search->pid, path); fd >= 0)
        return found(fd, path, debuginfo_file_name);
    }
    for (const std::string& root : build_id_roots()) {
      const std::string path = absl::StrCat(root, rel);
      if (const int fd = try_open(path); fd >= 0) return found(fd, path, debuginfo_file_name);
    }
  }
  // By .gnu_debuglink: a plain file name next to the module.
  if (!debuglink_file || !*debuglink_file || strchr(debuglink_file, '/') || !strcmp(debuglink_file, "..") ||
      !file_name || file_name[0] != '/')
    return -1;
  std::string dir = file_name;
  dir.resize(dir.rfind('/'));
  for (const std::string& candidate : {absl::StrCat(dir, "/", debuglink_file),
                                       absl::StrCat(dir, "/.debug/", debuglink_file),
                                       absl::StrCat(kDebugRoot, dir, "/", debuglink_file)}) {
    if (candidate == file_name) continue;  // a module naming itself is not its debug file
    const int fd = open_for_target(search, candidate);
    if (fd < 0) continue;
    if (crc_matches(fd, debuglink_crc)) return found(fd, candidate, debuginfo_file_name);
    close(fd);
  }
  return -1;
}

}  // namespace ccprof::profiler
