#include "profiler/module_by_build_id.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/elf_build_id.h"
#include "model/untrusted_input.h"
#include "profiler/debuginfo_lookup.h"
#include "profiler/debuginfod_fetch.h"

namespace ccprof::profiler {
namespace {

// Opens `path` when it is a regular file whose build ID is `want`; else -1 and, in
// `why`, what was there.
int open_if_build_id(const std::string& path, const std::string& want, std::string* why) {
  auto fd = model::open_regular_file(path);
  if (!fd.ok()) {
    *why = std::string(fd.status().message());
    return -1;
  }
  const std::string got = model::elf_build_id_hex(*fd);
  if (got == want) return *fd;
  close(*fd);
  *why = absl::StrCat(path, " has build ID ", got.empty() ? "(none)" : got, ", not the recorded ", want);
  return -1;
}

}  // namespace

ModuleFile open_module_by_build_id(const std::string& path, const std::string& build_id) {
  ModuleFile out;
  std::string why;
  if (const int fd = open_if_build_id(path, build_id, &why); fd >= 0) {
    out.fd = fd;
    out.path = path;
    return out;
  }
  // A file that exists at the path but is not a regular file, or cannot be read, is not
  // "another build": only a readable file with another (or no) build ID is.
  out.build_id_differs = why.find(" has build ID ") != std::string::npos;
  std::vector<std::string> tried = {why};
  const std::string rel = absl::StrCat("/.build-id/", build_id.substr(0, 2), "/", build_id.substr(2));
  std::vector<std::string> looked;
  for (const std::string& root : build_id_roots()) {
    const std::string candidate = absl::StrCat(root, rel);
    std::string cwhy;
    if (const int fd = open_if_build_id(candidate, build_id, &cwhy); fd >= 0) {
      out = {fd, candidate, absl::StrCat("found by build ID at ", candidate, " (", why, ")"), out.build_id_differs};
      return out;
    }
    // A candidate that exists with another build ID is worth saying; a missing one is listed.
    if (cwhy.find(" has build ID ") != std::string::npos) tried.push_back(cwhy);
    else looked.push_back(candidate);
  }
  if (!looked.empty()) tried.push_back(absl::StrCat("no ", absl::StrJoin(looked, " nor "), " (by build ID)"));
  const std::string bits = absl::HexStringToBytes(build_id);
  DebuginfodAnswer a =
      debuginfod_executable(reinterpret_cast<const unsigned char*>(bits.data()), static_cast<int>(bits.size()));
  if (a.fd >= 0) {
    // libdebuginfod does not check what a server sent: a file of another build is refused.
    const std::string got = model::elf_build_id_hex(a.fd);
    if (got == build_id) {
      out = {a.fd, a.path, absl::StrCat("from debuginfod, ", a.path, " (", why, ")"), out.build_id_differs};
      return out;
    }
    close(a.fd);
    tried.push_back(absl::StrCat("debuginfod sent a file with build ID ", got.empty() ? "(none)" : got));
  } else {
    tried.push_back(a.error);
  }
  out.detail = absl::StrJoin(tried, "; ");
  return out;
}

}  // namespace ccprof::profiler
