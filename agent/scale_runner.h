#pragma once
// `ccprof scale`'s measurements: run a command at several thread counts (the
// `{threads}` placeholder in its arguments), several times each, and take its
// throughput from a number it prints (--metric REGEX) or from 1 / wall time.
// No BPF: the runs are plain, unprofiled executions of the command.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ccprof::agent {

inline constexpr const char* kThreadsPlaceholder = "{threads}";

struct ScaleOptions {
  std::vector<std::string> command;  // argv; at least one argument contains {threads}
  std::vector<int> threads;          // thread counts, each >= 1
  int runs = 3;                      // runs per thread count (the median is used)
  std::string metric;                // regex over stdout; its first group (or the match) is the
                                     // throughput; "" = 1 / wall time
};

// One thread count: its command line and what each run measured.
struct ScaleStep {
  int threads = 0;
  std::vector<std::string> argv;
  std::vector<double> throughputs;  // one per run
  std::vector<double> wall_s;       // one per run
  double median = 0;                // of throughputs
};

struct ScaleMeasurements {
  std::vector<ScaleStep> steps;  // in the order of ScaleOptions::threads
  std::string metric;            // how throughput was measured, in words
};

// What one run of a command did.
struct CommandResult {
  int exit_code = 0;    // -1 when killed by a signal
  int signal = 0;       // the signal that killed it, else 0
  double wall_s = 0;
  std::string out;      // stdout
  std::string err;      // stderr
  // A process the command left behind (`server &`) still held its stdout or stderr when it
  // exited: what came after kOutputGraceS past the exit was not read.
  bool output_left_open = false;
};

// How long run_command() keeps reading once the command has exited, for output still in
// the pipes or coming from what it left running.
inline constexpr double kOutputGraceS = 1.0;

// Parses "1,2,4,8,16": whole numbers >= 1, no duplicates.
absl::StatusOr<std::vector<int>> parse_thread_counts(const std::string& text);

// The command with every {threads} replaced by `threads`.
std::vector<std::string> substitute_threads(const std::vector<std::string>& command, int threads);

// Runs `argv` (PATH lookup like a shell), capturing stdout and stderr.
absl::StatusOr<CommandResult> run_command(const std::vector<std::string>& argv);

// The throughput a run printed: the first match of `metric` in `out` (its first
// capture group when it has one) as a number.
absl::StatusOr<double> extract_metric(const std::string& out, const std::string& metric);

// Checks the options (placeholder present, valid regex, counts, runs) and runs the
// command `runs` rounds, each thread count once per round. A run that fails (non-zero exit, signal, no metric) is an error naming the
// thread count and the command. Stops with an error when g_stop_requested is set.
absl::StatusOr<ScaleMeasurements> measure_scaling(const ScaleOptions& opts);

double median(std::vector<double> values);

}  // namespace ccprof::agent
