#pragma once
// The one fork/exec of ccprof, for `run` (a child held before exec until the probes
// are live) and for `scale` (a child whose output is captured).
#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/unique_fd.h"

namespace ccprof::agent {

struct LaunchOptions {
  // The child waits after fork until start() lets it exec: probes attached before the
  // target's first instruction.
  bool hold_before_exec = false;
  // The child's stdout and stderr go to pipes (Launched::out_fd / err_fd).
  bool capture_output = false;
};

struct Launched {
  pid_t pid = -1;
  UniqueFd go_fd;        // hold_before_exec: one byte lets the child exec; EOF makes it exit 127
  UniqueFd exec_err_fd;  // the child's errno when exec failed; EOF once exec succeeded
  UniqueFd out_fd, err_fd;
};

// A command name as exec would find it: the path itself when it has a '/', else the
// first executable match in PATH. NotFound / PermissionDenied say which.
absl::StatusOr<std::string> resolve_command(const std::string& cmd);

absl::StatusOr<Launched> launch(const std::vector<std::string>& argv, const LaunchOptions& opts);

// Lets a held child exec (or, for a child not held, just waits for the exec) and says
// whether exec worked; on failure the child has been reaped.
absl::Status wait_for_exec(Launched& child, const std::string& command);

// Makes a held child exit without exec and reaps it.
void abandon(Launched& child);

}  // namespace ccprof::agent
