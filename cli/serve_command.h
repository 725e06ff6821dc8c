#pragma once
// `ccprof serve --listen ADDR:PORT (--pid PID... | --comm NAME...) [--window 10s]`:
// profiles each target in back-to-back windows and serves /metrics (Prometheus), /findings (the
// last window's findings.json) and /debug/pprof/{contention,offcpu} (the last window).
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace ccprof::cli {

struct ServeCommand {
  CLI::App* sub = nullptr;
  std::string listen;       // "127.0.0.1:9464"
  std::vector<uint32_t> pids;
  std::vector<std::string> comms;  // re-resolved after the target exits: follows restarts
  std::string window_text = "10s";
  std::string sampler = "auto";
  std::string cost_mode = "continuous";  // the always-on agent runs in the low-overhead mode
  bool no_sched = false;
  std::string sampler_clock = "timer";  // decode mode: timer | tick (agent/memory_sampler.h)
  double sampler_budget = -1;  // percent of all CPUs; < 0: the mode's (agent/sampler_budget.h)
};

void register_serve_command(CLI::App& app, ServeCommand& cmd);
// Runs until SIGINT/SIGTERM (agent::g_stop_requested).
absl::Status run_serve(const ServeCommand& cmd, double window_s);

// The oldest (lowest-pid) process whose /proc/PID/comm is `comm`; 0 when none.
uint32_t find_process_by_comm(const std::string& comm);

}  // namespace ccprof::cli
