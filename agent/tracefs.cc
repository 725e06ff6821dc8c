#include "agent/tracefs.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ccprof::agent {

absl::Status ensure_tracefs() {
  if (access("/sys/kernel/tracing/events", F_OK) == 0) return absl::OkStatus();
  if (access("/sys/kernel/debug/tracing/events", F_OK) == 0) return absl::OkStatus();
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("tracefs is not mounted and cannot be mounted at /sys/kernel/tracing (", strerror(errno),
                   "): mount it with `mount -t tracefs nodev /sys/kernel/tracing`"));
}

bool tracepoint_exists(const std::string& category, const std::string& event) {
  for (const char* root : {"/sys/kernel/tracing/events/", "/sys/kernel/debug/tracing/events/"})
    if (access(absl::StrCat(root, category, "/", event).c_str(), F_OK) == 0) return true;
  return false;
}

}  // namespace ccprof::agent
