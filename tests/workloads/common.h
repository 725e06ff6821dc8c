// Shared command line, stop signal and output of the scenario workloads.
//
// Every workload takes --variant=bad|fixed (default bad), --seconds=N
// (default 2, fractional allowed) and --threads=N, runs about that long and
// ends with one line "throughput=<number> <unit>/s". A bad argument prints
// one line to stderr and exits with status 2.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

namespace ccprof::workloads {

enum class Variant { kBad, kFixed };

struct Options {
  Variant variant = Variant::kBad;
  double seconds = 2.0;
  int threads = 4;

  bool bad() const { return variant == Variant::kBad; }
  const char* variant_name() const { return bad() ? "bad" : "fixed"; }
};

using Clock = std::chrono::steady_clock;

inline int hardware_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

inline double burn_rounds_per_us();

[[noreturn]] inline void usage_error(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: %s (usage: --variant=bad|fixed --seconds=N --threads=N)\n",
               program, message.c_str());
  std::exit(2);
}

// Parses the common flags. `max_threads` bounds --threads where the workload
// has a fixed number of slots (e.g. eight counters).
inline Options parse_options(int argc, char** argv, int default_threads, int max_threads = 256) {
  Options options;
  options.threads = default_threads;
  const char* program = argc > 0 ? argv[0] : "workload";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value_of = [&](std::string_view flag) -> const char* {
      if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag &&
          arg[flag.size()] == '=')
        return argv[i] + flag.size() + 1;
      return nullptr;
    };
    if (const char* v = value_of("--variant")) {
      std::string_view name = v;
      if (name == "bad") {
        options.variant = Variant::kBad;
      } else if (name == "fixed") {
        options.variant = Variant::kFixed;
      } else {
        usage_error(program, "--variant must be bad or fixed, not '" + std::string(name) + "'");
      }
    } else if (const char* v = value_of("--seconds")) {
      char* end = nullptr;
      double seconds = std::strtod(v, &end);
      if (end == v || *end != '\0' || !(seconds > 0) || seconds > 3600)
        usage_error(program, "--seconds must be a number in (0, 3600], not '" + std::string(v) + "'");
      options.seconds = seconds;
    } else if (const char* v = value_of("--threads")) {
      char* end = nullptr;
      long threads = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || threads < 1 || threads > max_threads)
        usage_error(program, "--threads must be an integer in [1, " + std::to_string(max_threads) +
                                 "], not '" + std::string(v) + "'");
      options.threads = static_cast<int>(threads);
    } else {
      usage_error(program, "unknown argument '" + std::string(arg) + "'");
    }
  }
  burn_rounds_per_us();  // calibrate cpu_work() before any workload thread runs
  return options;
}

// Set once by the main thread when --seconds have passed; workers poll it
// with a relaxed load (the line is never written during the run, so polling
// it costs no coherence traffic).
inline std::atomic<bool> g_stop{false};

inline bool stop_requested() { return g_stop.load(std::memory_order_relaxed); }

// Sleeps for the run's duration, then tells the workers to stop.
inline void run_for(const Options& options) {
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  g_stop.store(true, std::memory_order_relaxed);
}

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

inline void print_throughput(double count, const char* unit, double elapsed_s) {
  std::printf("throughput=%.1f %s/s\n", elapsed_s > 0 ? count / elapsed_s : 0.0, unit);
}

// A small, fast, deterministic per-thread random number generator.
struct XorShift64 {
  uint64_t state;
  explicit XorShift64(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

// CPU work the compiler cannot remove: `rounds` rounds of integer mixing.
__attribute__((noinline)) inline uint64_t burn_cpu(uint64_t seed, int rounds) {
  uint64_t x = seed | 1;
  for (int i = 0; i < rounds; ++i) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 29;
  }
  asm volatile("" : "+r"(x));
  return x;
}

// burn_cpu rounds per microsecond on this machine: the fastest of many short
// trials, so that other load on the machine does not shrink the work.
inline double burn_rounds_per_us() {
  static const double rounds_per_us = [] {
    constexpr int kRounds = 2000;
    double best_us = 1e9;
    uint64_t x = 1;
    for (int trial = 0; trial < 200; ++trial) {
      auto begin = Clock::now();
      x = burn_cpu(x, kRounds);
      best_us = std::min(best_us, std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
    }
    return kRounds / std::max(best_us, 1e-3);
  }();
  return rounds_per_us;
}

// A fixed amount of CPU work that takes about `duration` on an idle core.
// Unlike a wall-clock busy loop it does the same work when the thread is
// preempted, so both variants of a workload do the same work per item.
inline uint64_t cpu_work(std::chrono::nanoseconds duration, uint64_t seed = 1) {
  return burn_cpu(seed, static_cast<int>(burn_rounds_per_us() * duration.count() / 1000.0));
}

// Busy-works (no sleeping) until about `duration` of wall time has passed.
inline uint64_t burn_for(std::chrono::nanoseconds duration) {
  uint64_t x = 1;
  auto end = Clock::now() + duration;
  while (Clock::now() < end) x = burn_cpu(x, 64);
  return x;
}

}  // namespace ccprof::workloads
