#include "profiler/recording.h"

#include "profiler/atomic_file.h"
#include "profiler/recording_file.h"
#include "profiler/untrusted_input.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ccprof::profiler {
namespace {

using nlohmann::json;

// File layout: magic (8 bytes) | format version (u32) | payload length (u64) |
// crc32 of payload (u32) | payload (CBOR of the JSON model below).
constexpr char kMagic[8] = {'C', 'C', 'P', 'R', 'O', 'F', 'R', '1'};
constexpr size_t kHeaderSize = 8 + 4 + 8 + 4;
// Recordings come from other people: a bigger file is refused before it is read. A 10 s
// profile of a busy target is ~20-60 MB; 4 GiB leaves room for hours.
constexpr uint64_t kMaxRecordingBytes = 4ull << 30;

json regs_to_json(const UserRegs& r) { return json(std::vector<uint64_t>(r.begin(), r.end())); }
UserRegs regs_from_json(const json& j) {
  UserRegs r{};
  auto v = j.get<std::vector<uint64_t>>();
  if (v.size() != r.size()) throw std::runtime_error("register set has the wrong size");
  std::copy(v.begin(), v.end(), r.begin());
  return r;
}

// A FutexWait as a fixed 72-byte little-endian record (x86-64 only writes and reads it).
constexpr size_t kPackedWaitSize = 72;

template <typename T>
void append_le(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

template <typename T>
T read_le(const uint8_t*& p) {
  T v;
  memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}

void pack_wait(const FutexWait& w, std::vector<uint8_t>& out) {
  append_le(out, w.uaddr);
  append_le(out, w.pid);
  append_le(out, w.tid);
  append_le(out, w.op);
  append_le(out, w.expected);
  append_le(out, w.owner_tid);
  append_le(out, w.ret);
  append_le(out, w.start_ns);
  append_le(out, w.duration_ns);
  append_le(out, w.stack);
  append_le(out, w.owner_syscall);
  append_le(out, w.owner_syscall_since_ns);
  append_le(out, w.owner_syscall_ip);
}

FutexWait unpack_wait(const uint8_t* p) {
  FutexWait w;
  w.uaddr = read_le<uint64_t>(p);
  w.pid = read_le<uint32_t>(p);
  w.tid = read_le<uint32_t>(p);
  w.op = read_le<uint32_t>(p);
  w.expected = read_le<uint32_t>(p);
  w.owner_tid = read_le<int32_t>(p);
  w.ret = read_le<int32_t>(p);
  w.start_ns = read_le<uint64_t>(p);
  w.duration_ns = read_le<uint64_t>(p);
  w.stack = read_le<int32_t>(p);
  w.owner_syscall = read_le<int32_t>(p);
  w.owner_syscall_since_ns = read_le<uint64_t>(p);
  w.owner_syscall_ip = read_le<uint64_t>(p);
  return w;
}

json to_json_rec(const Recording& rec) {
  json j;
  j["ccprof_version"] = rec.ccprof_version;
  j["mode"] = rec.mode;
  j["command"] = rec.command;
  j["exit_code"] = rec.exit_code;
  j["hostname"] = rec.hostname;
  j["kernel"] = rec.kernel;
  j["online_cpus"] = rec.online_cpus;
  j["start_ns"] = rec.start_ns;
  j["end_ns"] = rec.end_ns;
  j["memory_sampler_mode"] = rec.memory_sampler_mode;
  j["memory_sampler_reason"] = rec.memory_sampler_reason;
  json procs = json::array();
  for (const auto& p : rec.processes) {
    json maps = json::array();
    for (const auto& m : p.maps)
      maps.push_back({m.start, m.end, m.offset, m.perms, m.path, m.inode});
    procs.push_back({{"pid", p.pid}, {"comm", p.comm}, {"cmdline", p.cmdline}, {"exe", p.exe}, {"maps", maps}});
  }
  j["processes"] = procs;
  json threads = json::array();
  for (const auto& t : rec.threads) threads.push_back({t.tid, t.pid, t.comm, t.start_ns, t.end_ns});
  j["threads"] = threads;
  json stacks = json::array();
  for (const auto& s : rec.stacks)
    stacks.push_back({{"pid", s.pid}, {"tid", s.tid}, {"t", s.time_ns}, {"regs", regs_to_json(s.regs)},
                      {"stack", json::binary(s.stack)}});
  j["stacks"] = stacks;
  // Waits are the bulk of a busy profile: packed records, not one JSON value each.
  std::vector<uint8_t> packed;
  packed.reserve(rec.futex_waits.size() * kPackedWaitSize);
  for (const auto& w : rec.futex_waits) pack_wait(w, packed);
  j["futex_waits_packed"] = json::binary(std::move(packed));
  j["futex_wait_record_size"] = kPackedWaitSize;
  json addrs = json::array();
  for (const auto& a : rec.futex_addrs)
    addrs.push_back({{"uaddr", a.uaddr}, {"pid", a.pid}, {"waits", a.waits}, {"wait_ns", a.wait_ns},
                     {"max_wait_ns", a.max_wait_ns}, {"wakes", a.wakes}, {"hist", a.hist_log2_ns}});
  j["futex_addrs"] = addrs;
  json mem = json::array();
  for (const auto& m : rec.memory_samples)
    mem.push_back({{"pid", m.pid}, {"tid", m.tid}, {"cpu", m.cpu}, {"t", m.time_ns}, {"regs", regs_to_json(m.regs)},
                   {"fs", m.fsbase}, {"addr", m.data_addr}, {"src", m.data_src}, {"w", m.weight}, {"pmu", m.pmu}});
  j["memory_samples"] = mem;
  j["sections"] = rec.sections;
  j["losses"] = rec.losses;
  return j;
}

Recording from_json_rec(const json& j) {
  Recording rec;
  rec.ccprof_version = j.at("ccprof_version").get<std::string>();
  rec.mode = j.at("mode").get<std::string>();
  rec.command = j.at("command").get<std::vector<std::string>>();
  rec.exit_code = j.at("exit_code").get<int32_t>();
  rec.hostname = j.at("hostname").get<std::string>();
  rec.kernel = j.at("kernel").get<std::string>();
  rec.online_cpus = j.at("online_cpus").get<uint32_t>();
  rec.start_ns = j.at("start_ns").get<uint64_t>();
  rec.end_ns = j.at("end_ns").get<uint64_t>();
  rec.memory_sampler_mode = j.at("memory_sampler_mode").get<std::string>();
  rec.memory_sampler_reason = j.at("memory_sampler_reason").get<std::string>();
  for (const auto& p : j.at("processes")) {
    ProcessInfo pi;
    pi.pid = p.at("pid").get<uint32_t>();
    pi.comm = p.at("comm").get<std::string>();
    pi.cmdline = p.at("cmdline").get<std::vector<std::string>>();
    pi.exe = p.at("exe").get<std::string>();
    for (const auto& m : p.at("maps"))
      pi.maps.push_back({m.at(0).get<uint64_t>(), m.at(1).get<uint64_t>(), m.at(2).get<uint64_t>(),
                         m.at(3).get<std::string>(), m.at(4).get<std::string>(), m.at(5).get<uint64_t>()});
    rec.processes.push_back(std::move(pi));
  }
  for (const auto& t : j.at("threads"))
    rec.threads.push_back({t.at(0).get<uint32_t>(), t.at(1).get<uint32_t>(), t.at(2).get<std::string>(),
                           t.at(3).get<uint64_t>(), t.at(4).get<uint64_t>()});
  for (const auto& s : j.at("stacks")) {
    StackCopy sc;
    sc.pid = s.at("pid").get<uint32_t>();
    sc.tid = s.at("tid").get<uint32_t>();
    sc.time_ns = s.at("t").get<uint64_t>();
    sc.regs = regs_from_json(s.at("regs"));
    sc.stack = s.at("stack").get_binary();
    rec.stacks.push_back(std::move(sc));
  }
  if (j.at("futex_wait_record_size").get<size_t>() != kPackedWaitSize)
    throw std::runtime_error("futex wait records have an unknown size");
  const auto& packed = j.at("futex_waits_packed").get_binary();
  if (packed.size() % kPackedWaitSize) throw std::runtime_error("futex wait records are cut short");
  rec.futex_waits.reserve(packed.size() / kPackedWaitSize);
  for (size_t off = 0; off < packed.size(); off += kPackedWaitSize) {
    FutexWait fw = unpack_wait(packed.data() + off);
    if (fw.stack >= static_cast<int32_t>(rec.stacks.size())) throw std::runtime_error("futex wait names a missing stack");
    rec.futex_waits.push_back(fw);
  }
  for (const auto& a : j.at("futex_addrs")) {
    FutexAddrStats s;
    s.uaddr = a.at("uaddr").get<uint64_t>();
    s.pid = a.at("pid").get<uint32_t>();
    s.waits = a.at("waits").get<uint64_t>();
    s.wait_ns = a.at("wait_ns").get<uint64_t>();
    s.max_wait_ns = a.at("max_wait_ns").get<uint64_t>();
    s.wakes = a.at("wakes").get<uint64_t>();
    auto h = a.at("hist").get<std::vector<uint64_t>>();
    if (h.size() != s.hist_log2_ns.size()) throw std::runtime_error("futex histogram has the wrong size");
    std::copy(h.begin(), h.end(), s.hist_log2_ns.begin());
    rec.futex_addrs.push_back(s);
  }
  for (const auto& m : j.at("memory_samples")) {
    MemorySample ms;
    ms.pid = m.at("pid").get<uint32_t>();
    ms.tid = m.at("tid").get<uint32_t>();
    ms.cpu = m.at("cpu").get<uint32_t>();
    ms.time_ns = m.at("t").get<uint64_t>();
    ms.regs = regs_from_json(m.at("regs"));
    ms.fsbase = m.at("fs").get<uint64_t>();
    ms.data_addr = m.at("addr").get<uint64_t>();
    ms.data_src = m.at("src").get<uint64_t>();
    ms.weight = m.at("w").get<uint32_t>();
    ms.pmu = m.at("pmu").get<bool>();
    rec.memory_samples.push_back(ms);
  }
  rec.sections = j.at("sections").get<std::map<std::string, json>>();
  rec.losses = j.at("losses").get<LossCounters>();
  return rec;
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace

const ProcessInfo* Recording::process(uint32_t pid) const {
  for (const auto& p : processes)
    if (p.pid == pid) return &p;
  return nullptr;
}

const ThreadInfo* Recording::thread(uint32_t tid) const {
  for (const auto& t : threads)
    if (t.tid == tid) return &t;
  return nullptr;
}

std::string encode_recording(const Recording& rec) {
  std::vector<uint8_t> payload = json::to_cbor(to_json_rec(rec));
  std::string header(kMagic, sizeof kMagic);
  put<uint32_t>(header, Recording::kFormatVersion);
  put<uint64_t>(header, payload.size());
  put<uint32_t>(header, crc32(0, payload.data(), payload.size()));

  std::string data = header;
  data.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  return data;
}

absl::Status save_recording(const Recording& rec, const std::string& path) {
  return write_file_atomically(path, encode_recording(rec));
}

absl::StatusOr<Recording> load_recording(const std::string& path) {
  // A regular file only, opened without blocking (a FIFO or a device named as the
  // recording must not hang or poke anything), and of a bounded size.
  auto read = read_regular_file(path, kMaxRecordingBytes, "recording");
  if (!read.ok()) return read.status();
  const std::string& data = *read;
  if (data.size() < kHeaderSize || memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a ccprof recording (bad magic)"));
  uint32_t version, crc;
  uint64_t len;
  memcpy(&version, data.data() + 8, 4);
  memcpy(&len, data.data() + 12, 8);
  memcpy(&crc, data.data() + 20, 4);
  if (version != Recording::kFormatVersion)
    return absl::InvalidArgumentError(absl::StrCat(path, ": recording format version ", version,
                                                   " is not supported (this ccprof reads version ",
                                                   Recording::kFormatVersion, ")"));
  if (data.size() - kHeaderSize < len)
    return absl::DataLossError(absl::StrCat(path, " is truncated: ", data.size() - kHeaderSize, " of ", len,
                                            " payload bytes present"));
  if (data.size() - kHeaderSize > len)
    return absl::DataLossError(absl::StrCat(path, " is corrupt: trailing bytes after the payload"));
  const auto* payload = reinterpret_cast<const uint8_t*>(data.data() + kHeaderSize);
  if (crc32(0, payload, len) != crc)
    return absl::DataLossError(absl::StrCat(path, " is corrupt: checksum mismatch"));
  // Depth and item limits before anything is built: nested arrays overflowed the stack.
  auto j = parse_cbor_bounded(payload, len);
  if (!j.ok()) return absl::DataLossError(absl::StrCat(path, " is corrupt: ", j.status().message()));
  try {
    return from_json_rec(*j);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, " is corrupt: ", e.what()));
  }
}

}  // namespace ccprof::profiler
