#include "agent/proc.h"

#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ccprof::agent {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

std::vector<model::MemoryMap> parse_maps(const std::string& text) {
  std::vector<model::MemoryMap> maps;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    model::MemoryMap m;
    char perms[8] = {0};
    unsigned long long start, end, offset, inode;
    unsigned dev_major, dev_minor;
    int path_pos = 0;
    if (sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset, &dev_major,
               &dev_minor, &inode, &path_pos) < 7)
      continue;
    m.start = start;
    m.end = end;
    m.offset = offset;
    m.perms = perms;
    m.inode = inode;
    if (path_pos > 0 && static_cast<size_t>(path_pos) <= line.size()) m.path = line.substr(path_pos);
    // "(deleted)" files cannot be read back from disk; keep the name for the report.
    maps.push_back(std::move(m));
  }
  return maps;
}

absl::StatusOr<std::vector<model::MemoryMap>> read_maps(uint32_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/maps"));
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read /proc/", pid, "/maps: ", strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_maps(ss.str());
}

std::vector<uint32_t> list_threads(uint32_t pid) {
  std::vector<uint32_t> tids;
  std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (!d) return tids;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    tids.push_back(static_cast<uint32_t>(strtoul(e->d_name, nullptr, 10)));
  }
  closedir(d);
  return tids;
}

std::string read_comm(uint32_t pid, uint32_t tid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/task/", tid, "/comm"));
  std::string s;
  std::getline(in, s);
  return s;
}

std::vector<std::string> read_cmdline(uint32_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  return out;
}

std::string read_exe(uint32_t pid) {
  char buf[4096];
  ssize_t n = readlink(absl::StrCat("/proc/", pid, "/exe").c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<std::string> read_stat_fields(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return {};
  const auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(std::move(f));
  return fields;
}

bool process_exists(uint32_t pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  // A zombie (exited, not yet reaped by its parent) has nothing left to profile.
  const auto f = read_stat_fields(absl::StrCat("/proc/", pid, "/stat"));
  return f.empty() || (f[0] != "Z" && f[0] != "X");
}

ArgEnvRange read_arg_env_range(uint32_t pid) {
  const auto f = read_stat_fields(absl::StrCat("/proc/", pid, "/stat"));
  if (f.size() < 49) return {};  // arg_start is field 48, env_end field 51
  const uint64_t arg_start = std::strtoull(f[45].c_str(), nullptr, 10);
  const uint64_t env_end = std::strtoull(f[48].c_str(), nullptr, 10);
  if (!arg_start || env_end <= arg_start) return {};
  return {arg_start, env_end};
}

namespace {

uint64_t zero_overlap(std::vector<uint8_t>& bytes, uint64_t base, ArgEnvRange r) {
  const uint64_t lo = std::max(base, r.start), hi = std::min(base + bytes.size(), r.end);
  if (hi <= lo) return 0;
  std::fill(bytes.begin() + (lo - base), bytes.begin() + (hi - base), 0);
  return hi - lo;
}

}  // namespace

uint64_t redact_arg_env(model::Recording& rec, uint32_t pid, ArgEnvRange range) {
  if (range.end <= range.start) return 0;
  uint64_t n = 0;
  for (auto& s : rec.stacks)
    if (s.pid == pid) n += zero_overlap(s.stack, s.regs[model::kRsp], range);
  for (auto& m : rec.memory_samples)
    if (m.pid == pid)
      for (auto& w : m.stack_windows) n += zero_overlap(w.bytes, w.addr, range);
  return n;
}

ResidentMemory read_resident_memory(uint32_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/statm"));
  uint64_t size = 0, resident = 0, shared = 0;
  if (!(in >> size >> resident >> shared)) return {};
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return {resident * page, (resident > shared ? resident - shared : 0) * page};
}

uint64_t read_rss_bytes(uint32_t pid) { return read_resident_memory(pid).rss_bytes; }

}  // namespace ccprof::agent
