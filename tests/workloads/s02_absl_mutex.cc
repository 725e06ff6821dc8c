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
#include "common.h"

using namespace ccprof::workloads;

constexpr int kRoutes = 32;

struct Config {
  int64_t version;
  int64_t timeout_ms;
  int64_t retry_limit;
  int64_t max_connections;
  int64_t route_weights[kRoutes];
};

static Config make_config(int64_t version) {
  Config config{};
  config.version = version;
  config.timeout_ms = 100 + version % 7;
  config.retry_limit = 3 + version % 2;
  config.max_connections = 1000;
  for (int i = 0; i < kRoutes; ++i) config.route_weights[i] = 1 + (i * 7 + version) % 13;
  return config;
}

absl::Mutex g_config_mu;
Config g_config;  // guarded by g_config_mu

// Picks a route for `request` by weight and returns a routing decision.
static int64_t route_request(const Config& config, uint64_t request) {
  int64_t total_weight = 0;
  for (int i = 0; i < kRoutes; ++i) total_weight += config.route_weights[i];
  int64_t point = static_cast<int64_t>(request % static_cast<uint64_t>(total_weight));
  int route = 0;
  while (point >= config.route_weights[route]) point -= config.route_weights[route++];
  return route * config.timeout_ms + config.retry_limit + (config.max_connections & 1);
}

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

static void reload_loop(const Options& options, int64_t* reloads) {
  int64_t version = 1;
  while (!stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ++version;
    reload_config(version);
  }
  *reloads = version - 1;
}

static void serve_requests(const Options& options, int thread_index, int64_t* served,
                           int64_t* checksum) {
  XorShift64 rng(thread_index + 1);
  int64_t count = 0, sum = 0;
  while (!stop_requested()) {
    for (int i = 0; i < 256; ++i) {
      uint64_t request = rng.next();
      sum += options.bad() ? read_config_exclusive(request) : read_config_shared(request);
    }
    count += 256;
  }
  *served = count;
  *checksum = sum;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4);
  g_config = make_config(1);

  std::vector<int64_t> served(options.threads), checksums(options.threads);
  int64_t reloads = 0;
  std::vector<std::thread> threads;
  auto start = Clock::now();
  std::thread reloader(reload_loop, std::cref(options), &reloads);
  for (int i = 0; i < options.threads; ++i)
    threads.emplace_back(serve_requests, std::cref(options), i, &served[i], &checksums[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  reloader.join();
  double elapsed = seconds_since(start);

  int64_t total = 0;
  for (int64_t s : served) total += s;
  std::printf("variant=%s threads=%d reloads=%lld reads=%lld\n", options.variant_name(),
              options.threads, static_cast<long long>(reloads), static_cast<long long>(total));
  print_throughput(static_cast<double>(total), "reads", elapsed);
  return 0;
}
