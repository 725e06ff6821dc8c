#include "profiler/debuginfo_lookup.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/printable.h"
#include "profiler/debuginfod_fetch.h"
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

}  // namespace

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

namespace {

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

// Opens the module's .gnu_debuglink file (a plain name: beside the module, in .debug/
// beside it, or under /usr/lib/debug + its folder) whose CRC matches, and names it.
template <typename Note>
int find_by_debuglink(const DebuginfoSearch* search, const char* file_name, const char* debuglink_file,
                      GElf_Word debuglink_crc, Note note, std::string* path) {
  if (!debuglink_file || !*debuglink_file) {
    note("no .gnu_debuglink");
    return -1;
  }
  if (strchr(debuglink_file, '/') || !strcmp(debuglink_file, "..") || !file_name || file_name[0] != '/') {
    note(".gnu_debuglink is not a plain file name");
    return -1;
  }
  std::string dir = file_name;
  dir.resize(dir.rfind('/'));
  for (const std::string& candidate : {absl::StrCat(dir, "/", debuglink_file),
                                       absl::StrCat(dir, "/.debug/", debuglink_file),
                                       absl::StrCat(kDebugRoot, dir, "/", debuglink_file)}) {
    if (candidate == file_name) continue;  // a module naming itself is not its debug file
    const int fd = open_for_target(search, candidate);
    if (fd < 0) continue;
    if (crc_matches(fd, debuglink_crc)) {
      *path = candidate;
      return fd;
    }
    close(fd);
    note(absl::StrCat(candidate, " (.gnu_debuglink) has another CRC"));
  }
  note(absl::StrCat(".gnu_debuglink ", model::printable(debuglink_file), ": not beside the module, in .debug/ nor under ",
                    kDebugRoot));
  return -1;
}

}  // namespace

int find_debuginfo_safely(Dwfl_Module* mod, void** userdata, const char*, Dwarf_Addr, const char* file_name,
                          const char* debuglink_file, GElf_Word debuglink_crc, char** debuginfo_file_name) {
  auto* search = userdata ? static_cast<DebuginfoSearch*>(*userdata) : nullptr;
  const bool own_file = !(debuglink_file && debuglink_file[0] == '/');
  if (search && own_file) search->tried.clear();  // libdwfl asks again after a failure
  // What the report says of this module: the source found, or each place looked in vain.
  auto note = [search](std::string what) {
    if (search) search->tried.push_back(std::move(what));
  };
  auto found_as = [search, debuginfo_file_name](int fd, const std::string& path, const char* source) {
    if (search) {
      search->source = source;
      search->path = path;
    }
    return found(fd, path, debuginfo_file_name);
  };
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
    if (search && search->files && search->files->has_own_root(search->pid)) {
      const std::string path = absl::StrCat(kDebugRoot, rel);
      if (const int fd = search->files->open_in_root(search->pid, path); fd >= 0)
        return found_as(fd, path, kDebugBuildIdInTarget);
      note(absl::StrCat("no ", path, " in the target's root"));
    }
    std::vector<std::string> looked;
    for (const std::string& root : build_id_roots()) {
      const std::string path = absl::StrCat(root, rel);
      if (const int fd = try_open(path); fd >= 0) return found_as(fd, path, kDebugBuildId);
      looked.push_back(path);
    }
    note(absl::StrCat("no ", absl::StrJoin(looked, " nor "), " (by build ID)"));
  } else {
    note("no build ID");
  }
  // By .gnu_debuglink: a plain file name next to the module.
  std::string link_path;
  if (const int fd = find_by_debuglink(search, file_name, debuglink_file, debuglink_crc, note, &link_path); fd >= 0)
    return found_as(fd, link_path, kDebugLink);
  // Last, and only where $DEBUGINFOD_URLS names servers: debuginfod, by build ID
  // (through libdebuginfod's cache, bounded in time: debuginfod_fetch.h).
  if (len >= 2 && bits) {
    DebuginfodAnswer answer = debuginfod_debug_file(bits, len);
    if (answer.fd >= 0) return found_as(answer.fd, answer.path, kDebugDebuginfod);
    note(answer.error);
  }
  return -1;
}

}  // namespace ccprof::profiler
