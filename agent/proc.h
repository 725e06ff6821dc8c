#pragma once
// Readers of /proc for a target process: maps, threads, comm, command line.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/recording.h"

namespace ccprof::agent {

absl::StatusOr<std::vector<model::MemoryMap>> read_maps(uint32_t pid);
// Parses the text of a /proc/PID/maps file (exposed for tests).
std::vector<model::MemoryMap> parse_maps(const std::string& text);
std::vector<uint32_t> list_threads(uint32_t pid);
std::string read_comm(uint32_t pid, uint32_t tid);
std::vector<std::string> read_cmdline(uint32_t pid);
std::string read_exe(uint32_t pid);
bool process_exists(uint32_t pid);
// CLOCK_MONOTONIC nanoseconds (the clock bpf_ktime_get_ns uses).
uint64_t monotonic_ns();
// The calling thread's CPU time in seconds (CLOCK_THREAD_CPUTIME_ID).
double thread_cpu_s();
// Resident set size in bytes, 0 when the process is gone.
uint64_t read_rss_bytes(uint32_t pid);
// The fields of a /proc/.../stat file from field 3 (the state) on: element i is field
// i + 3 of proc(5). Parsed after the last ')', as the command name may hold spaces and
// parentheses. Empty when the file cannot be read.
std::vector<std::string> read_stat_fields(const std::string& path);

// Where a process keeps its command-line arguments and environment strings (the top
// of the main thread's stack; /proc/PID/stat fields 48-51). {0, 0} when unknown.
struct ArgEnvRange {
  uint64_t start = 0, end = 0;
};
ArgEnvRange read_arg_env_range(uint32_t pid);

// Zeroes the bytes of every stack copy and stack window of process `pid` that lie in
// `range`: the environment (tokens, passwords) and argv must never reach a recording,
// and unwinding never needs them (they are strings, not frames). Returns the bytes zeroed.
uint64_t redact_arg_env(model::Recording& rec, uint32_t pid, ArgEnvRange range);

// Resident memory of a process, all of it and its anonymous part (resident - shared:
// statm's shared pages are the file-backed and shmem ones). Zeros when it is gone.
struct ResidentMemory {
  uint64_t rss_bytes = 0, anon_bytes = 0;
};
ResidentMemory read_resident_memory(uint32_t pid);

}  // namespace ccprof::agent
