#pragma once
// Abseil's deadlock detection, as a release build runs it (off), unless asked for.
//
// Debian's libabsl is built without NDEBUG, so its deadlock detector is on by default:
// every absl::Mutex Lock and Unlock then records the mutex in one process-wide
// lock-order graph under one static SpinLock. On s01-absl-mutex's sharded twin that
// global lock costs ~4x (9.5M words/s with it, 40M without, 4 threads on 2 CPUs): the
// sharding would fix nothing. The scenario workloads are about the program's locks, so
// they run as an Abseil built with -DNDEBUG does (the detector off), and
// `--absl-deadlock-detection=library-default` leaves the library's default, which
// ccprof must then report as its own finding (tests/e2e/lock_libraries_test.py).
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "common.h"

namespace ccprof::workloads {

// Reads and removes --absl-deadlock-detection=off|library-default from argv (before
// parse_options), and applies it before any thread starts.
inline void apply_absl_deadlock_detection(int& argc, char** argv) {
  bool library_default = false;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    constexpr const char kFlag[] = "--absl-deadlock-detection=";
    if (std::strncmp(argv[i], kFlag, sizeof kFlag - 1) != 0) {
      argv[out++] = argv[i];
      continue;
    }
    const char* v = argv[i] + sizeof kFlag - 1;
    if (std::strcmp(v, "library-default") == 0) {
      library_default = true;
    } else if (std::strcmp(v, "off") == 0) {
      library_default = false;
    } else {
      usage_error(argv[0], std::string("--absl-deadlock-detection must be off or library-default, not '") + v + "'");
    }
  }
  argc = out;
  argv[argc] = nullptr;
  if (!library_default) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace ccprof::workloads
