#include "model/recording.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include <nlohmann/json.hpp>

#include "model/atomic_file.h"
#include "model/cbor_writer.h"
#include "model/untrusted_input.h"

namespace ccprof::model {

// One (de)serializer per struct; the JSON keys are the field names, spelled once here.
// (ADL finds these in ccprof::model when nlohmann converts the types.)
// build_id only where known (file mappings of ELF files); older recordings have none.
void to_json(nlohmann::json& j, const MemoryMap& m) {
  j = {{"start", m.start}, {"end", m.end}, {"offset", m.offset}, {"perms", m.perms}, {"path", m.path}, {"inode", m.inode}};
  if (!m.build_id.empty()) j["build_id"] = m.build_id;
}
void from_json(const nlohmann::json& j, MemoryMap& m) {
  j.at("start").get_to(m.start);
  j.at("end").get_to(m.end);
  j.at("offset").get_to(m.offset);
  j.at("perms").get_to(m.perms);
  j.at("path").get_to(m.path);
  j.at("inode").get_to(m.inode);
  m.build_id = j.value("build_id", std::string());
  // It becomes a path (/usr/lib/debug/.build-id/xx/yyyy): hex digits only, or unknown.
  const bool hex = m.build_id.size() >= 4 && m.build_id.size() <= 128 && m.build_id.size() % 2 == 0 &&
                   m.build_id.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex) m.build_id.clear();
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProcessInfo, pid, comm, cmdline, exe, maps)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ThreadInfo, tid, pid, comm, start_ns, end_ns)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FutexAddrStats, uaddr, pid, waits, wait_ns, max_wait_ns, wakes, hist_log2_ns)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProfileMode, name, gives_up)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FutexSection, wait_events_seen, wait_events_kept, keep_every)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LockYield, pid, tid, lock, caller, yields, yield_ns)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LockCallCount, pid, tid, lock, caller, calls)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LockRateSection, window_s, windows, intervals_ns, libc, entries)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LockHoldSite, pid, lock, caller, holds, hold_ns, max_ns, clipped, clipped_ns, hist)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LockOrderPair, pid, tid, first, first_caller, second, second_caller, trylock, count)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LockHoldSample, pid, tid, lock, caller, hold_ns, stack)
// With defaults: recordings made before the holders' stacks have no `samples`.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LockHoldSection, window_s, windows, hist_sub_bits, sites, order, samples)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SamplerRateChange, at_s, hz, share, why)
// With defaults: recordings made before the rate control have no requested_hz .. cost_share.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MemorySamplerSection, mode, reason, frequency_hz, period_ns, events,
                                                target_samples, all_samples, requested_hz, budget, rate_changes,
                                                fires, bpf_s, agent_s, interrupt_s, interrupt_ns, cost_window_s,
                                                cost_share)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SchedThread, pid, tid, comm, created_ns, exited_ns, first_seen_ns, on_cpu_ns,
                                   off_cpu_ns, runq_ns, max_runq_ns, runq_count, voluntary_switches,
                                   involuntary_switches, wakeups, syscall_ns, syscall_count)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SyscallSite, pid, nr, ip, count, total_ns, max_ns)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SyscallSample, pid, tid, nr, enter_ns, duration_ns, ip, stack)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RssSample, time_ns, pid, rss_bytes, anon_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PythonFrame, file, function, line)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PythonWaitStack, pid, tid, uaddr, start_ns, duration_ns, read_delay_ns, frames)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PythonProcess, pid, object, version, supported, note)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PythonReadRun, pid, tid, first_ns, last_ns, frames)
// With defaults: recordings made before the reads were kept have no read_period_ns/reads.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PythonSection, processes, frames, waits, read_period_ns, reads)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SchedSection, long_syscall_ns, threads, syscall_sites, long_syscalls, rss)

// Stack bytes as CBOR byte strings, not arrays of numbers; registers and bytes only
// when kept (format 2 always has them, format 3 only under --keep-stack-bytes).
void to_json(nlohmann::json& j, const StackCopy& s) {
  j = {{"pid", s.pid}, {"tid", s.tid}, {"time_ns", s.time_ns}, {"frames", s.frames}};
  if (s.frames >= 0 && s.stack.empty()) return;  // unwound: the addresses are all there is
  j["regs"] = s.regs;
  j["stack"] = nlohmann::json::binary(s.stack);
}
void from_json(const nlohmann::json& j, StackCopy& s) {
  j.at("pid").get_to(s.pid);
  j.at("tid").get_to(s.tid);
  j.at("time_ns").get_to(s.time_ns);
  s.frames = j.value("frames", -1);
  if (s.frames < 0 || j.contains("regs")) {
    j.at("regs").get_to(s.regs);
    s.stack = j.at("stack").get_binary();
  }
}

// A frame list's addresses as one byte string of little-endian u64s (x86-64 only).
void to_json(nlohmann::json& j, const StackFrames& f) {
  std::vector<uint8_t> pcs(f.pcs.size() * 8);
  if (!pcs.empty()) memcpy(pcs.data(), f.pcs.data(), pcs.size());
  j = {{"pcs", nlohmann::json::binary(std::move(pcs))}, {"activation", f.activation}, {"complete", f.complete}};
  if (!f.stop.empty()) j["stop"] = f.stop;
}
void from_json(const nlohmann::json& j, StackFrames& f) {
  const auto& pcs = j.at("pcs").get_binary();
  if (pcs.size() % 8) throw std::runtime_error("a stack's addresses are cut short");
  f.pcs.resize(pcs.size() / 8);
  if (!pcs.empty()) memcpy(f.pcs.data(), pcs.data(), pcs.size());
  j.at("activation").get_to(f.activation);
  j.at("complete").get_to(f.complete);
  f.stop = j.value("stop", std::string());
}

// Memory samples: stack windows are byte strings, and optional (none in PMU mode).
void to_json(nlohmann::json& j, const MemorySample& m) {
  j = {{"pid", m.pid},       {"tid", m.tid},       {"cpu", m.cpu},           {"time_ns", m.time_ns},
       {"regs", m.regs},     {"fsbase", m.fsbase}, {"data_addr", m.data_addr}, {"data_src", m.data_src},
       {"weight", m.weight}, {"pmu", m.pmu}};
  if (m.stack_windows.empty()) return;
  nlohmann::json ws = nlohmann::json::array();
  for (const auto& w : m.stack_windows) ws.push_back({{"addr", w.addr}, {"bytes", nlohmann::json::binary(w.bytes)}});
  j["stack_windows"] = std::move(ws);
}
void from_json(const nlohmann::json& j, MemorySample& m) {
  j.at("pid").get_to(m.pid);
  j.at("tid").get_to(m.tid);
  j.at("cpu").get_to(m.cpu);
  j.at("time_ns").get_to(m.time_ns);
  j.at("regs").get_to(m.regs);
  j.at("fsbase").get_to(m.fsbase);
  j.at("data_addr").get_to(m.data_addr);
  j.at("data_src").get_to(m.data_src);
  j.at("weight").get_to(m.weight);
  j.at("pmu").get_to(m.pmu);
  m.stack_windows.clear();
  if (auto ws = j.find("stack_windows"); ws != j.end())
    for (const auto& w : *ws) m.stack_windows.push_back({w.at("addr").get<uint64_t>(), w.at("bytes").get_binary()});
}

namespace {

using nlohmann::json;

// File layout: magic (8 bytes) | format version (u32) | payload length (u64) |
// crc32 of payload (u32) | payload (CBOR of the JSON model below).
constexpr char kMagic[8] = {'C', 'C', 'P', 'R', 'O', 'F', 'R', '1'};
constexpr size_t kHeaderSize = 8 + 4 + 8 + 4;
// Recordings come from other people: a bigger file is refused before it is read. A 10 s
// profile of a busy target is ~20-60 MB; 4 GiB leaves room for hours.
constexpr uint64_t kMaxRecordingBytes = 4ull << 30;
// From version 4 the payload is zstd-compressed; uncompressed it may be no bigger than
// an uncompressed file could be.
constexpr uint32_t kFirstCompressedVersion = 4;
constexpr uint64_t kMaxPayloadBytes = kMaxRecordingBytes;

// A FutexWait as a fixed 92-byte little-endian record (x86-64 only writes and reads it);
// recordings from before the wake time have 84-byte records, and from before the lock
// object and waker fields 72-byte ones.
constexpr size_t kPackedWaitSize = 92;
constexpr size_t kPackedWaitSizeV2 = 84;
constexpr size_t kPackedWaitSizeV1 = 72;

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

// The packed record's fields, in order: one list for the writer and the reader.
#define CCPROF_PACKED_WAIT_FIELDS(X)                                                                   \
  X(uaddr) X(pid) X(tid) X(op) X(expected) X(owner_tid) X(ret) X(start_ns) X(duration_ns) X(stack) \
  X(owner_syscall) X(owner_syscall_since_ns) X(owner_syscall_ip)
// Appended after them (absent from 72-byte records).
#define CCPROF_PACKED_WAIT_FIELDS_V2(X) X(word) X(waker_tid)
// Appended after those (absent from 72- and 84-byte records).
#define CCPROF_PACKED_WAIT_FIELDS_V3(X) X(woken_ns)

#define CCPROF_FIELD_SIZE(f) +sizeof(FutexWait::f)
static_assert(0 CCPROF_PACKED_WAIT_FIELDS(CCPROF_FIELD_SIZE) == kPackedWaitSizeV1, "packed wait layout changed");
static_assert(0 CCPROF_PACKED_WAIT_FIELDS(CCPROF_FIELD_SIZE) CCPROF_PACKED_WAIT_FIELDS_V2(CCPROF_FIELD_SIZE) ==
                  kPackedWaitSizeV2,
              "packed wait layout changed");
static_assert(0 CCPROF_PACKED_WAIT_FIELDS(CCPROF_FIELD_SIZE) CCPROF_PACKED_WAIT_FIELDS_V2(CCPROF_FIELD_SIZE)
                      CCPROF_PACKED_WAIT_FIELDS_V3(CCPROF_FIELD_SIZE) == kPackedWaitSize,
              "packed wait layout changed");
#undef CCPROF_FIELD_SIZE

void pack_wait(const FutexWait& w, std::vector<uint8_t>& out) {
#define CCPROF_PACK(f) append_le(out, w.f);
  CCPROF_PACKED_WAIT_FIELDS(CCPROF_PACK)
  CCPROF_PACKED_WAIT_FIELDS_V2(CCPROF_PACK)
  CCPROF_PACKED_WAIT_FIELDS_V3(CCPROF_PACK)
#undef CCPROF_PACK
}

FutexWait unpack_wait(const uint8_t* p, size_t record_size) {
  FutexWait w;
#define CCPROF_UNPACK(f) w.f = read_le<decltype(w.f)>(p);
  CCPROF_PACKED_WAIT_FIELDS(CCPROF_UNPACK)
  if (record_size >= kPackedWaitSizeV2) {
    CCPROF_PACKED_WAIT_FIELDS_V2(CCPROF_UNPACK)
  }
  if (record_size >= kPackedWaitSize) {
    CCPROF_PACKED_WAIT_FIELDS_V3(CCPROF_UNPACK)
  }
#undef CCPROF_UNPACK
  return w;
}

// A ThreadRun as a fixed 48-byte little-endian record: a busy profile has hundreds of
// thousands of runs.
#define CCPROF_PACKED_RUN_FIELDS(X) \
  X(pid) X(tid) X(ready_ns) X(on_ns) X(off_ns) X(seq) X(coalesced) X(coalesced_ns) X(cpu) X(flags)
constexpr size_t kPackedRunSize = 48;
#define CCPROF_FIELD_SIZE(f) +sizeof(ThreadRun::f)
static_assert(0 CCPROF_PACKED_RUN_FIELDS(CCPROF_FIELD_SIZE) == kPackedRunSize, "packed run layout changed");
#undef CCPROF_FIELD_SIZE

json timeline_to_json(const SchedTimelineSection& s) {
  std::vector<uint8_t> packed;
  packed.reserve(s.runs.size() * kPackedRunSize);
  for (const auto& r : s.runs) {
#define CCPROF_PACK(f) append_le(packed, r.f);
    CCPROF_PACKED_RUN_FIELDS(CCPROF_PACK)
#undef CCPROF_PACK
  }
  return {{"runs_per_s", s.runs_per_s},   {"window_ns", s.window_ns},          {"coalesce_ns", s.coalesce_ns},
          {"run_record_size", kPackedRunSize}, {"runs_packed", json::binary(std::move(packed))}};
}

SchedTimelineSection timeline_from_json(const json& j) {
  SchedTimelineSection s;
  j.at("runs_per_s").get_to(s.runs_per_s);
  j.at("window_ns").get_to(s.window_ns);
  j.at("coalesce_ns").get_to(s.coalesce_ns);
  if (j.at("run_record_size").get<size_t>() != kPackedRunSize) throw std::runtime_error("runs have an unknown size");
  const auto& packed = j.at("runs_packed").get_binary();
  if (packed.size() % kPackedRunSize) throw std::runtime_error("runs are cut short");
  s.runs.reserve(packed.size() / kPackedRunSize);
  for (const uint8_t* p = packed.data(); p < packed.data() + packed.size();) {
    ThreadRun r;
#define CCPROF_UNPACK(f) r.f = read_le<decltype(r.f)>(p);
    CCPROF_PACKED_RUN_FIELDS(CCPROF_UNPACK)
#undef CCPROF_UNPACK
    // Durations are differences: a run that ends before it starts would be years long.
    if (r.ready_ns > r.on_ns || r.on_ns > r.off_ns || r.coalesced_ns > r.off_ns - r.on_ns)
      throw std::runtime_error("a run ends before it starts");
    s.runs.push_back(r);
  }
  return s;
}

// The recording as JSON. Without `bulk`, the stack copies, the memory samples and the
// sched section's long syscalls are left out: recording_cbor() writes those straight
// from the structs (write_bulk), in the same shape.
json to_json_rec(const Recording& rec, bool bulk = true) {
  json j = {{"ccprof_version", rec.ccprof_version}, {"mode", rec.mode},         {"command", rec.command},
            {"exit_code", rec.exit_code},           {"hostname", rec.hostname}, {"kernel", rec.kernel},
            {"online_cpus", rec.online_cpus},       {"start_ns", rec.start_ns}, {"end_ns", rec.end_ns},
            {"processes", rec.processes},           {"threads", rec.threads},
            {"stack_frames", rec.stack_frames},
            {"futex_addrs", rec.futex_addrs},
            {"futex", rec.futex},                   {"memory_sampler", rec.memory_sampler},
            {"profile_mode", rec.profile_mode},
            {"losses", rec.losses}};
  if (bulk) {
    j["stacks"] = rec.stacks;
    j["memory_samples"] = rec.memory_samples;
  }
  if (rec.has_lockrate) j["lockrate"] = rec.lockrate;
  if (rec.has_lockhold) j["lockhold"] = rec.lockhold;
  if (rec.has_sched && bulk) {
    j["sched"] = rec.sched;
  } else if (rec.has_sched) {
    j["sched"] = {{"long_syscall_ns", rec.sched.long_syscall_ns},
                  {"threads", rec.sched.threads},
                  {"syscall_sites", rec.sched.syscall_sites},
                  {"rss", rec.sched.rss}};
  }
  if (!rec.lock_yields.empty()) j["lock_yields"] = rec.lock_yields;  // recordings before it have none
  if (rec.has_sched_timeline) j["sched_timeline"] = timeline_to_json(rec.sched_timeline);
  if (rec.has_python) j["python"] = rec.python;
  // Waits are the bulk of a busy profile: packed records, not one JSON value each.
  std::vector<uint8_t> packed;
  packed.reserve(rec.futex_waits.size() * kPackedWaitSize);
  for (const auto& w : rec.futex_waits) pack_wait(w, packed);
  j["futex_waits_packed"] = json::binary(std::move(packed));
  j["futex_wait_record_size"] = kPackedWaitSize;
  return j;
}

void check_stack_index(int32_t stack, const Recording& rec, const char* who) {
  if (stack >= static_cast<int32_t>(rec.stacks.size()))
    throw std::runtime_error(absl::StrCat(who, " names stack ", stack, " of ", rec.stacks.size()));
}

Recording from_json_rec(const json& j) {
  Recording rec;
  j.at("ccprof_version").get_to(rec.ccprof_version);
  j.at("mode").get_to(rec.mode);
  j.at("command").get_to(rec.command);
  j.at("exit_code").get_to(rec.exit_code);
  j.at("hostname").get_to(rec.hostname);
  j.at("kernel").get_to(rec.kernel);
  j.at("online_cpus").get_to(rec.online_cpus);
  j.at("start_ns").get_to(rec.start_ns);
  j.at("end_ns").get_to(rec.end_ns);
  j.at("processes").get_to(rec.processes);
  j.at("threads").get_to(rec.threads);
  j.at("stacks").get_to(rec.stacks);
  if (auto f = j.find("stack_frames"); f != j.end()) f->get_to(rec.stack_frames);  // format 3
  for (const auto& s : rec.stacks)
    if (s.frames >= static_cast<int32_t>(rec.stack_frames.size()))
      throw std::runtime_error(absl::StrCat("a stack names frame list ", s.frames, " of ", rec.stack_frames.size()));
  j.at("futex_addrs").get_to(rec.futex_addrs);
  j.at("memory_samples").get_to(rec.memory_samples);
  j.at("futex").get_to(rec.futex);
  if (j.contains("lock_yields")) j.at("lock_yields").get_to(rec.lock_yields);
  j.at("memory_sampler").get_to(rec.memory_sampler);
  if (auto m = j.find("profile_mode"); m != j.end()) m->get_to(rec.profile_mode);
  j.at("losses").get_to(rec.losses);
  if ((rec.has_lockrate = j.contains("lockrate"))) j.at("lockrate").get_to(rec.lockrate);
  if ((rec.has_lockhold = j.contains("lockhold"))) j.at("lockhold").get_to(rec.lockhold);
  for (const auto& x : rec.lockhold.samples) check_stack_index(x.stack, rec, "a lock-hold sample");
  if ((rec.has_sched = j.contains("sched"))) j.at("sched").get_to(rec.sched);
  for (const auto& x : rec.sched.long_syscalls) check_stack_index(x.stack, rec, "a sched syscall sample");
  if ((rec.has_sched_timeline = j.contains("sched_timeline")))
    rec.sched_timeline = timeline_from_json(j.at("sched_timeline"));
  if ((rec.has_python = j.contains("python"))) j.at("python").get_to(rec.python);
  auto check_python_frames = [&](const std::vector<int32_t>& frames) {
    for (int32_t f : frames)
      if (f < 0 || f >= static_cast<int32_t>(rec.python.frames.size()))
        throw std::runtime_error(absl::StrCat("a Python stack names frame ", f, " of ", rec.python.frames.size()));
  };
  for (const auto& w : rec.python.waits) check_python_frames(w.frames);
  for (const auto& r : rec.python.reads) check_python_frames(r.frames);
  const size_t record_size = j.at("futex_wait_record_size").get<size_t>();
  if (record_size != kPackedWaitSize && record_size != kPackedWaitSizeV2 && record_size != kPackedWaitSizeV1)
    throw std::runtime_error("futex wait records have an unknown size");
  const auto& packed = j.at("futex_waits_packed").get_binary();
  if (packed.size() % record_size) throw std::runtime_error("futex wait records are cut short");
  rec.futex_waits.reserve(packed.size() / record_size);
  for (size_t off = 0; off < packed.size(); off += record_size) {
    FutexWait fw = unpack_wait(packed.data() + off, record_size);
    check_stack_index(fw.stack, rec, "a futex wait");
    rec.futex_waits.push_back(fw);
  }
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

std::string recording_file_bytes(uint32_t version, std::string_view cbor_payload) {
  std::string stored;
  if (version >= kFirstCompressedVersion) {
    // Level 1: ~0.15 s of CPU for a 38 MB payload, which shrinks ~4.5x (packed waits and
    // runs repeat their pids and high timestamp bytes); higher levels cost much more
    // for a few percent.
    stored.resize(ZSTD_compressBound(cbor_payload.size()));
    const size_t n = ZSTD_compress(stored.data(), stored.size(), cbor_payload.data(), cbor_payload.size(), 1);
    if (ZSTD_isError(n)) throw std::runtime_error(absl::StrCat("cannot compress the recording: ", ZSTD_getErrorName(n)));
    stored.resize(n);
    cbor_payload = stored;
  }
  std::string data(kMagic, sizeof kMagic);
  data.reserve(kHeaderSize + cbor_payload.size());
  put<uint32_t>(data, version);
  put<uint64_t>(data, cbor_payload.size());
  put<uint32_t>(data, crc32(0, reinterpret_cast<const Bytef*>(cbor_payload.data()), cbor_payload.size()));
  data.append(cbor_payload);
  return data;
}

namespace {

// The CBOR of to_json(StackCopy) / to_json(MemorySample) / to_json(SyscallSample) above,
// written without the JSON values (a unit test holds the two to the same document).
void write_regs(CborWriter& w, const UserRegs& regs) {
  w.array(regs.size());
  for (uint64_t r : regs) w.uint(r);
}

void write_stack_copy(CborWriter& w, const StackCopy& s) {
  const bool unwound_only = s.frames >= 0 && s.stack.empty();
  w.map(unwound_only ? 4 : 6);
  w.text("pid"), w.uint(s.pid);
  w.text("tid"), w.uint(s.tid);
  w.text("time_ns"), w.uint(s.time_ns);
  w.text("frames"), w.sint(s.frames);
  if (unwound_only) return;
  w.text("regs"), write_regs(w, s.regs);
  w.text("stack"), w.bytes(s.stack.data(), s.stack.size());
}

void write_memory_sample(CborWriter& w, const MemorySample& m) {
  w.map(m.stack_windows.empty() ? 10 : 11);
  w.text("pid"), w.uint(m.pid);
  w.text("tid"), w.uint(m.tid);
  w.text("cpu"), w.uint(m.cpu);
  w.text("time_ns"), w.uint(m.time_ns);
  w.text("regs"), write_regs(w, m.regs);
  w.text("fsbase"), w.uint(m.fsbase);
  w.text("data_addr"), w.uint(m.data_addr);
  w.text("data_src"), w.uint(m.data_src);
  w.text("weight"), w.uint(m.weight);
  w.text("pmu"), w.boolean(m.pmu);
  if (m.stack_windows.empty()) return;
  w.text("stack_windows"), w.array(m.stack_windows.size());
  for (const auto& win : m.stack_windows) {
    w.map(2);
    w.text("addr"), w.uint(win.addr);
    w.text("bytes"), w.bytes(win.bytes.data(), win.bytes.size());
  }
}

void write_syscall_sample(CborWriter& w, const SyscallSample& c) {
  w.map(7);
  w.text("pid"), w.uint(c.pid);
  w.text("tid"), w.uint(c.tid);
  w.text("nr"), w.sint(c.nr);
  w.text("enter_ns"), w.uint(c.enter_ns);
  w.text("duration_ns"), w.uint(c.duration_ns);
  w.text("ip"), w.uint(c.ip);
  w.text("stack"), w.sint(c.stack);
}

template <typename T, typename Write>
void write_array(CborWriter& w, const std::vector<T>& xs, Write write) {
  w.array(xs.size());
  for (const auto& x : xs) write(w, x);
}

// A map's entries from a JSON object, each value as its own CBOR item.
void write_entries(CborWriter& w, const json& object) {
  std::string item;
  for (const auto& [k, v] : object.items()) {
    w.text(k);
    item.clear();
    json::to_cbor(v, item);
    w.raw(item);
  }
}

}  // namespace

std::string recording_cbor(const Recording& rec) {
  // The small parts as JSON, the bulk written straight (to_json_rec's `bulk`).
  const json j = to_json_rec(rec, /*bulk=*/false);
  std::string payload;
  payload.reserve(rec.stacks.size() * 40 + rec.memory_samples.size() * 300 +
                  (rec.has_sched ? rec.sched.long_syscalls.size() * 80 : 0) + (1 << 16));
  CborWriter w(payload);
  w.map(j.size() + 2);
  for (const auto& [k, v] : j.items()) {
    w.text(k);
    if (k != "sched") {
      std::string item;
      json::to_cbor(v, item);
      w.raw(item);
      continue;
    }
    w.map(v.size() + 1);
    write_entries(w, v);
    w.text("long_syscalls"), write_array(w, rec.sched.long_syscalls, write_syscall_sample);
  }
  w.text("stacks"), write_array(w, rec.stacks, write_stack_copy);
  w.text("memory_samples"), write_array(w, rec.memory_samples, write_memory_sample);
  return payload;
}

std::string recording_cbor_from_json(const Recording& rec) {
  std::string payload;
  json::to_cbor(to_json_rec(rec), payload);
  return payload;
}

std::string encode_recording(const Recording& rec) {
  return recording_file_bytes(Recording::kFormatVersion, recording_cbor(rec));
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
  if (version < Recording::kOldestReadableVersion || version > Recording::kFormatVersion)
    return absl::InvalidArgumentError(absl::StrCat(path, ": recording format version ", version,
                                                   " is not supported (this ccprof reads versions ",
                                                   Recording::kOldestReadableVersion, " to ",
                                                   Recording::kFormatVersion, ")"));
  if (data.size() - kHeaderSize < len)
    return absl::DataLossError(absl::StrCat(path, " is truncated: ", data.size() - kHeaderSize, " of ", len,
                                            " payload bytes present"));
  if (data.size() - kHeaderSize > len)
    return absl::DataLossError(absl::StrCat(path, " is corrupt: trailing bytes after the payload"));
  const auto* payload = reinterpret_cast<const uint8_t*>(data.data() + kHeaderSize);
  if (crc32(0, payload, len) != crc)
    return absl::DataLossError(absl::StrCat(path, " is corrupt: checksum mismatch"));
  std::string cbor;
  if (version >= kFirstCompressedVersion) {
    // The size the frame claims is checked before anything is allocated: a small file
    // must not expand into all of memory.
    const unsigned long long size = ZSTD_getFrameContentSize(payload, len);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
      return absl::DataLossError(absl::StrCat(path, " is corrupt: the payload is not a zstd frame of known size"));
    if (size > kMaxPayloadBytes)
      return absl::DataLossError(absl::StrCat(path, " is corrupt: its payload claims ", size,
                                              " bytes uncompressed (more than ", kMaxPayloadBytes, ")"));
    cbor.resize(size);
    const size_t n = ZSTD_decompress(cbor.data(), cbor.size(), payload, len);
    if (ZSTD_isError(n) || n != size)
      return absl::DataLossError(absl::StrCat(path, " is corrupt: the payload does not decompress (",
                                              ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short", ")"));
    payload = reinterpret_cast<const uint8_t*>(cbor.data());
    len = cbor.size();
  }
  // Depth and item limits before anything is built: nested arrays overflowed the stack.
  auto j = parse_cbor_bounded(payload, len);
  if (!j.ok()) return absl::DataLossError(absl::StrCat(path, " is corrupt: ", j.status().message()));
  try {
    return from_json_rec(*j);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, " is corrupt: ", e.what()));
  }
}

uint64_t SchedThread::blocking_syscall_ns() const {
  return class_ns(SyscallClass::kIo) + class_ns(SyscallClass::kSleep) + class_ns(SyscallClass::kPoll);
}

const SchedThread* SchedSection::thread(uint32_t tid) const {
  for (const auto& t : threads)
    if (t.tid == tid) return &t;
  return nullptr;
}

}  // namespace ccprof::model
