#include "agent/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/target_stop.h"

namespace ccprof::agent {

absl::StatusOr<std::string> resolve_command(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) {
    if (access(cmd.c_str(), F_OK) != 0) return absl::NotFoundError(absl::StrCat("command not found: ", cmd));
    if (access(cmd.c_str(), X_OK) != 0) return absl::PermissionDeniedError(absl::StrCat("not executable: ", cmd));
    return cmd;
  }
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string full = dir + "/" + cmd;
    if (access(full.c_str(), X_OK) == 0) return full;
    start = end + 1;
  }
  return absl::NotFoundError(absl::StrCat("command not found: ", cmd));
}

absl::StatusOr<Launched> launch(const std::vector<std::string>& argv, const LaunchOptions& opts) {
  if (argv.empty()) return absl::InvalidArgumentError("no command to run");
  auto resolved = resolve_command(argv[0]);
  if (!resolved.ok()) return resolved.status();
  int go[2] = {-1, -1}, err[2], out[2] = {-1, -1}, errout[2] = {-1, -1};
  if ((opts.hold_before_exec && pipe2(go, O_CLOEXEC)) || pipe2(err, O_CLOEXEC) ||
      (opts.capture_output && (pipe2(out, O_CLOEXEC) || pipe2(errout, O_CLOEXEC))))
    return absl::InternalError(absl::StrCat("cannot create pipes: ", strerror(errno)));
  Launched child;
  child.go_fd.reset(go[1]);
  child.exec_err_fd.reset(err[0]);
  child.out_fd.reset(out[0]);
  child.err_fd.reset(errout[0]);
  UniqueFd go_r(go[0]), err_w(err[1]), out_w(out[1]), errout_w(errout[1]);

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("cannot fork: ", strerror(errno)));
  if (pid == 0) {
    // The parent's ends of the pipes, which fork copied: with the go pipe's write end
    // open here, the read below would never see the EOF that abandon() sends, and ccprof
    // would wait for this child for ever.
    for (int fd : {go[1], err[0], out[0], errout[0]})
      if (fd >= 0) close(fd);
    if (!die_with_parent(parent)) _exit(127);  // never outlive ccprof unreaped
    signal(SIGPIPE, SIG_DFL);  // ccprof ignores it (cli/main.cc); the target gets the default
    if (opts.hold_before_exec) {
      char c;
      ssize_t n;
      do n = read(go_r.get(), &c, 1);
      while (n < 0 && errno == EINTR);
      if (n != 1) _exit(127);  // the profiler went away before attaching
    }
    if (opts.capture_output) {
      dup2(out_w.get(), STDOUT_FILENO);
      dup2(errout_w.get(), STDERR_FILENO);
    }
    execv(resolved->c_str(), cargv.data());
    int e = errno;  // exec failed: tell the parent why through the close-on-exec pipe
    (void)!write(err_w.get(), &e, sizeof e);
    _exit(127);
  }
  child.pid = pid;
  return child;
}

absl::Status wait_for_exec(Launched& child, const std::string& command) {
  if (child.go_fd.valid()) {
    char go = 1;
    if (write(child.go_fd.get(), &go, 1) != 1) {
      abandon(child);
      return absl::InternalError("cannot start the target");
    }
    child.go_fd.reset();
  }
  int exec_errno = 0;
  ssize_t n;
  do n = read(child.exec_err_fd.get(), &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  child.exec_err_fd.reset();
  if (n == sizeof exec_errno) {
    while (waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    child.pid = -1;
    return absl::FailedPreconditionError(absl::StrCat("cannot execute ", command, ": ", strerror(exec_errno)));
  }
  return absl::OkStatus();
}

void abandon(Launched& child) {
  if (child.pid <= 0) return;
  child.go_fd.reset();  // EOF: a held child exits 127 without exec
  while (waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  child.pid = -1;
}

}  // namespace ccprof::agent
