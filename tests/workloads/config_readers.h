// Scenario 2's configuration, its readers' and its reloader's loops: shared by the
// workloads that write scenario 2 with each lock library (s02_read_mostly_lock.cc with
// std::mutex, s02_absl_mutex.cc with absl::Mutex). Each workload supplies its own
// read and reload functions, where its lock is taken.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "common.h"

namespace ccprof::workloads {

constexpr int kRoutes = 32;

struct Config {
  int64_t version;
  int64_t timeout_ms;
  int64_t retry_limit;
  int64_t max_connections;
  int64_t route_weights[kRoutes];
};

inline Config make_config(int64_t version) {
  Config config{};
  config.version = version;
  config.timeout_ms = 100 + version % 7;
  config.retry_limit = 3 + version % 2;
  config.max_connections = 1000;
  for (int i = 0; i < kRoutes; ++i) config.route_weights[i] = 1 + (i * 7 + version) % 13;
  return config;
}

// Picks a route for `request` by weight and returns a routing decision.
inline int64_t route_request(const Config& config, uint64_t request) {
  int64_t total_weight = 0;
  for (int i = 0; i < kRoutes; ++i) total_weight += config.route_weights[i];
  int64_t point = static_cast<int64_t>(request % static_cast<uint64_t>(total_weight));
  int route = 0;
  while (point >= config.route_weights[route]) point -= config.route_weights[route++];
  return route * config.timeout_ms + config.retry_limit + (config.max_connections & 1);
}

using ConfigRead = int64_t (*)(uint64_t request);
using ConfigReload = void (*)(int64_t version);

// `options.threads` reader threads call `read` for --seconds while one thread calls
// `reload` every 100 ms; prints the summary line and the throughput.
inline void run_config_readers(const Options& options, ConfigRead read, ConfigReload reload) {
  std::vector<int64_t> served(options.threads), checksums(options.threads);
  int64_t reloads = 0;
  auto start = Clock::now();
  std::thread reloader([&] {
    int64_t version = 1;
    while (!stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      reload(++version);
    }
    reloads = version - 1;
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < options.threads; ++i)
    threads.emplace_back([&, i] {
      XorShift64 rng(i + 1);
      int64_t count = 0, sum = 0;
      while (!stop_requested()) {
        for (int k = 0; k < 256; ++k) sum += read(rng.next());
        count += 256;
      }
      served[i] = count;
      checksums[i] = sum;
    });
  run_for(options);
  for (auto& t : threads) t.join();
  reloader.join();
  double elapsed = seconds_since(start);
  int64_t total = 0;
  for (int64_t s : served) total += s;
  std::printf("variant=%s threads=%d reloads=%lld reads=%lld\n", options.variant_name(), options.threads,
              static_cast<long long>(reloads), static_cast<long long>(total));
  print_throughput(static_cast<double>(total), "reads", elapsed);
}

}  // namespace ccprof::workloads
