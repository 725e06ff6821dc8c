// Makes hostile recordings for the fault suite (tests/e2e/fault_suite.py), as an
// attacker with a CRC fix-up would: valid header and checksum, hostile content.
//   hostile_recording nested LEVELS OUT       LEVELS nested CBOR arrays
//   hostile_recording maps-to PATH IN OUT     IN with every file-backed map naming PATH
//   hostile_recording shrink IN OUT           a small copy of IN (seed corpora of tests/fuzz)

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "model/recording.h"

using namespace ccprof::model;

namespace {

int usage() {
  std::fprintf(stderr, "usage: hostile_recording nested LEVELS OUT | maps-to PATH IN OUT | shrink IN OUT\n");
  return 2;
}

int write_nested(size_t levels, const std::string& out) {
  std::vector<uint8_t> payload(levels, 0x81);  // array of one element, LEVELS times
  payload.push_back(0x00);
  std::ofstream(out, std::ios::binary) << recording_file_bytes(
      Recording::kFormatVersion, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
  return 0;
}

int rewrite_maps(const std::string& path, const std::string& in, const std::string& out) {
  auto rec = load_recording(in);
  if (!rec.ok()) {
    std::fprintf(stderr, "hostile_recording: %s\n", std::string(rec.status().message()).c_str());
    return 1;
  }
  int n = 0;
  for (auto& p : rec->processes)
    for (auto& m : p.maps)
      if (!m.path.empty() && m.path[0] == '/' && m.inode != 0) {
        m.path = path;
        ++n;
      }
  if (auto s = save_recording(*rec, out); !s.ok()) {
    std::fprintf(stderr, "hostile_recording: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("rewrote %d maps\n", n);
  return n > 0 ? 0 : 1;
}

// Keeps a few of everything: small enough for a fuzzer's seed, still every section.
int shrink(const std::string& in, const std::string& out) {
  auto rec = load_recording(in);
  if (!rec.ok()) {
    std::fprintf(stderr, "hostile_recording: %s\n", std::string(rec.status().message()).c_str());
    return 1;
  }
  auto keep = [](auto& v, size_t n) {
    if (v.size() > n) v.resize(n);
  };
  keep(rec->stacks, 3);
  for (auto& s : rec->stacks) keep(s.stack, 768);
  keep(rec->futex_waits, 24);
  for (auto& w : rec->futex_waits)
    if (w.stack >= static_cast<int32_t>(rec->stacks.size())) w.stack = -1;
  keep(rec->futex_addrs, 6);
  keep(rec->memory_samples, 24);
  keep(rec->threads, 8);
  for (auto& p : rec->processes) keep(p.maps, 40);
  keep(rec->sched.threads, 8);
  keep(rec->sched.syscall_sites, 8);
  keep(rec->sched.long_syscalls, 8);
  keep(rec->sched.rss, 8);
  for (auto& s : rec->sched.long_syscalls)
    if (s.stack >= static_cast<int32_t>(rec->stacks.size())) s.stack = -1;
  keep(rec->lockrate.entries, 8);
  keep(rec->lockrate.intervals_ns, 8);
  if (auto s = save_recording(*rec, out); !s.ok()) {
    std::fprintf(stderr, "hostile_recording: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && !strcmp(argv[1], "nested")) return write_nested(strtoull(argv[2], nullptr, 10), argv[3]);
  if (argc == 5 && !strcmp(argv[1], "maps-to")) return rewrite_maps(argv[2], argv[3], argv[4]);
  if (argc == 4 && !strcmp(argv[1], "shrink")) return shrink(argv[2], argv[3]);
  return usage();
}
