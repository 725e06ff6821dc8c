// Scenario 2 — a plain mutex guards a configuration that is read constantly
// and reloaded rarely.
//
// N reader threads route "requests" using the current configuration; one
// reloader thread publishes a new configuration every 100 ms.
//   bad:   readers take the exclusive g_config_mutex and read the fields
//          inside it, so readers serialize against each other for nothing.
//   fixed: the configuration is an immutable snapshot behind an atomic
//          pointer; readers do one acquire load and take no lock.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"
#include "config_readers.h"

using namespace ccprof::workloads;

// bad: one mutable configuration under an exclusive mutex.
std::mutex g_config_mutex;
Config g_config;  // guarded by g_config_mutex

// fixed: an immutable snapshot published through an atomic pointer.
std::atomic<const Config*> g_config_snapshot;
// Retired snapshots are kept until exit: readers may still be reading one,
// and a run publishes only ~10 per second (a long-lived program would free
// them after a grace period, RCU-style, or use std::atomic<std::shared_ptr>).
std::vector<std::unique_ptr<const Config>> g_retired_snapshots;

// bad: every read takes the exclusive lock.
__attribute__((noinline)) int64_t read_config_locked(uint64_t request) {
  std::lock_guard<std::mutex> lock(g_config_mutex);  // PROBLEM: readers exclude each other although none writes
  return route_request(g_config, request);
}

// fixed: a wait-free read of the current snapshot.
__attribute__((noinline)) int64_t read_config_snapshot(uint64_t request) {
  const Config* config = g_config_snapshot.load(std::memory_order_acquire);  // FIX: no lock for readers
  return route_request(*config, request);
}

__attribute__((noinline)) void reload_config_locked(int64_t version) {
  Config fresh = make_config(version);
  std::lock_guard<std::mutex> lock(g_config_mutex);
  g_config = fresh;
}

__attribute__((noinline)) void reload_config_snapshot(int64_t version) {
  auto fresh = std::make_unique<const Config>(make_config(version));
  const Config* old = g_config_snapshot.exchange(fresh.release(), std::memory_order_acq_rel);
  g_retired_snapshots.emplace_back(old);
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  g_config = make_config(1);
  g_config_snapshot.store(new Config(make_config(1)));
  if (options.bad())
    run_config_readers(options, read_config_locked, reload_config_locked);
  else
    run_config_readers(options, read_config_snapshot, reload_config_snapshot);
  delete g_config_snapshot.load();
  return 0;
}
