#pragma once
// The files a target mapped, opened while it lived. A target in a container maps
// /opt/app/bin/server from its own mount namespace: the host has no such path, or a
// different file under it, and once the target exited (`ccprof run`) or its mount
// namespace went away nothing names it at all. The agent therefore opens every file
// mapping through /proc/PID/map_files (the very file mapped, even deleted) and the
// target's root (/proc/PID/root, for separate debug files inside the container) while
// profiling; the analysis of the same profile reads through these descriptors.
// Runtime state only: a saved recording does not carry it, so `ccprof report` of a
// recording falls back to the host's paths.
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "model/recording.h"

namespace ccprof::model {

class TargetFiles {
 public:
  TargetFiles() = default;
  ~TargetFiles();
  TargetFiles(const TargetFiles&) = delete;
  TargetFiles& operator=(const TargetFiles&) = delete;

  // Opens what is not open yet of `pid`: its root when it is not the host's, and each
  // file mapping in `maps` (read from /proc/PID/maps moments before). Failures only
  // leave that file to the host-path fallback.
  void capture(uint32_t pid, const std::vector<MemoryMap>& maps);

  // The open descriptor of the file `pid` mapped as `path` with `inode`, or -1. Owned by
  // this object (dup() it to hand it on).
  int module_fd(uint32_t pid, const std::string& path, uint64_t inode) const;
  // The build ID (hex) of that file, "" when not open or it has none: recorded with the
  // maps so that `ccprof report` elsewhere finds this very file and no other.
  std::string build_id(uint32_t pid, const std::string& path, uint64_t inode) const;
  // Opens `path` (absolute) as the target sees it: resolved inside its root, symlinks
  // included (RESOLVE_IN_ROOT), a regular file only, without blocking. The caller owns
  // the result; -1 when pid's root is the host's, or not captured, or no such file.
  int open_in_root(uint32_t pid, const std::string& path) const;
  // Whether `pid` has a root of its own (another mount namespace's root).
  bool has_own_root(uint32_t pid) const { return roots_.count(pid) > 0; }

  size_t modules_open() const { return modules_.size(); }

 private:
  std::map<uint32_t, int> roots_;  // pid -> O_PATH fd of /proc/PID/root, when not "/"
  std::map<std::tuple<uint32_t, std::string, uint64_t>, int> modules_;  // (pid, path, inode) -> fd
};

}  // namespace ccprof::model
