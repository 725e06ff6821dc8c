// Scenario 2 with Abseil's lock — an exclusive absl::Mutex guards a configuration
// that is read constantly and reloaded rarely.
//
// N reader threads route "requests" using the current configuration; one
// reloader thread publishes a new configuration every 100 ms.
//   bad:   readers take g_config_mu exclusively (absl::MutexLock), so readers
//          serialize against each other for nothing.
//   fixed: readers take it shared (absl::ReaderMutexLock, absl::Mutex's reader
//          mode); only the rare reload takes it exclusively.
#include <chrono>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl_deadlock_detection.h"
#include "common.h"
#include "config_readers.h"

using namespace ccprof::workloads;

absl::Mutex g_config_mu;
Config g_config;  // guarded by g_config_mu

// bad: every read takes the lock exclusively.
__attribute__((noinline)) int64_t read_config_exclusive(uint64_t request) {
  absl::MutexLock lock(&g_config_mu);  // PROBLEM: readers exclude each other although none writes
  return route_request(g_config, request);
}

// fixed: readers share the lock.
__attribute__((noinline)) int64_t read_config_shared(uint64_t request) {
  absl::ReaderMutexLock lock(&g_config_mu);  // FIX: readers hold it together
  return route_request(g_config, request);
}

__attribute__((noinline)) void reload_config(int64_t version) {
  Config fresh = make_config(version);
  absl::MutexLock lock(&g_config_mu);
  g_config = fresh;
}

int main(int argc, char** argv) {
  apply_absl_deadlock_detection(argc, argv);  // off, as in a release (NDEBUG) Abseil
  Options options = parse_options(argc, argv, 4);
  g_config = make_config(1);
  run_config_readers(options, options.bad() ? read_config_exclusive : read_config_shared, reload_config);
  return 0;
}
