#include "agent/cpython_frames.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/elf_symbol.h"
#include "agent/proc.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {
namespace {

// CPython 3.11 x86-64 layouts (offsetof() over python3.11-dev's headers with
// Py_BUILD_CORE: Include/internal/pycore_runtime.h, pycore_interp.h, pycore_frame.h,
// Include/cpython/pystate.h, code.h, unicodeobject.h, bytesobject.h).
constexpr uint64_t kRuntimeInterpretersHead = 40;  // _PyRuntimeState.interpreters.head
constexpr uint64_t kInterpNext = 0;                // PyInterpreterState.next
constexpr uint64_t kInterpThreadsHead = 16;        // PyInterpreterState.threads.head
constexpr uint64_t kTstateNext = 8;                // PyThreadState.next
constexpr uint64_t kTstateCframe = 56;             // PyThreadState.cframe
constexpr uint64_t kTstateNativeThreadId = 160;    // PyThreadState.native_thread_id (new in 3.11)
constexpr uint64_t kCframeCurrentFrame = 8;        // _PyCFrame.current_frame
constexpr uint64_t kFrameCode = 32;                // _PyInterpreterFrame.f_code
constexpr uint64_t kFramePrevious = 48;            // _PyInterpreterFrame.previous
constexpr uint64_t kFramePrevInstr = 56;           // _PyInterpreterFrame.prev_instr
constexpr uint64_t kFrameSize = 72;                // through .owner
constexpr uint64_t kCodeFirstLineNo = 72;          // PyCodeObject.co_firstlineno
constexpr uint64_t kCodeFilename = 112;            // PyCodeObject.co_filename
constexpr uint64_t kCodeQualname = 128;            // PyCodeObject.co_qualname
constexpr uint64_t kCodeLinetable = 136;           // PyCodeObject.co_linetable
constexpr uint64_t kCodeAdaptive = 184;            // PyCodeObject.co_code_adaptive (the bytecode)
constexpr uint64_t kVarSize = 16;                  // PyVarObject.ob_size
constexpr uint64_t kBytesData = 32;                // PyBytesObject.ob_sval
constexpr uint64_t kUnicodeLength = 16;            // PyASCIIObject.length
constexpr uint64_t kUnicodeState = 32;             // PyASCIIObject.state (bit field)
constexpr uint64_t kUnicodeUtf8Length = 48;        // PyCompactUnicodeObject.utf8_length
constexpr uint64_t kUnicodeUtf8 = 56;              // PyCompactUnicodeObject.utf8
constexpr uint64_t kAsciiData = 48;                // sizeof(PyASCIIObject)
constexpr uint64_t kCompactData = 72;              // sizeof(PyCompactUnicodeObject)

constexpr int kMaxFrames = 64;           // deeper stacks keep their innermost 64
constexpr int kMaxThreads = 4096;        // thread states walked to find one tid
constexpr int kMaxInterpreters = 64;
constexpr uint64_t kMaxString = 4096;    // file names and function names
constexpr uint64_t kMaxLinetable = 1 << 20;
constexpr size_t kMaxCodes = 16384;      // cached code objects, cleared when full
// A read costs ~10 syscalls per thread; every 10 ms, 10 s of them kept per thread (at
// most 1000), and 50,000 stacks in a profile (the rest: python.stacks_skipped).
constexpr uint64_t kSampleIntervalNs = 10'000'000;
constexpr uint64_t kHistoryNs = 10'000'000'000;
constexpr size_t kMaxSnapshotsPerThread = 1000;
constexpr size_t kMaxStacks = 50'000;
// Threads read per process per pass: a process with more is read in turns (a thread's
// reads are then further apart, and more of its waits find none: python.stack_reads_failed).
constexpr size_t kMaxThreadsPerPass = 64;
// Runs of identical reads kept for the memory samples (a run per change of a thread's
// stack: ~100 per second per busy Python thread); the rest: python.frame_reads_skipped.
constexpr size_t kMaxReadRuns = 200'000;
// A run covers consecutive reads; a gap of more than two periods (a thread not read in
// a pass, a sampler stalled by a busy machine) starts a new one, so a run never claims
// a time it was not read at.
constexpr uint64_t kRunMaxGapNs = 2 * kSampleIntervalNs;
// A target none of whose processes is a CPython interpreter: the sampler stops once each
// has kept its (non-Python) executable this long; a launcher (env, a pyenv shim) execs
// the interpreter within milliseconds.
constexpr uint64_t kNoPythonGiveUpNs = 1'000'000'000;

bool read_mem(uint32_t pid, uint64_t addr, void* out, size_t len) {
  if (!addr) return false;
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return process_vm_readv(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

template <typename T>
T field(const uint8_t* buf, uint64_t off) {
  T v;
  memcpy(&v, buf + off, sizeof v);
  return v;
}

template <typename T>
bool read_value(uint32_t pid, uint64_t addr, T& out) {
  return read_mem(pid, addr, &out, sizeof out);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A str object as UTF-8 (compact strings only: every code object's names are).
absl::StatusOr<std::string> read_str(uint32_t pid, uint64_t addr) {
  uint8_t h[kCompactData];
  if (!read_mem(pid, addr, h, sizeof h)) return absl::UnavailableError("cannot read a str object");
  const uint64_t length = std::min<uint64_t>(field<uint64_t>(h, kUnicodeLength), kMaxString);
  const uint32_t state = field<uint32_t>(h, kUnicodeState);
  const uint32_t kind = (state >> 2) & 7;
  const bool compact = state & (1u << 5), ascii = state & (1u << 6);
  if (!compact) return absl::UnimplementedError("a legacy (non-compact) str object");
  std::string out;
  if (ascii) {
    out.resize(length);
    if (length && !read_mem(pid, addr + kAsciiData, out.data(), length)) return absl::UnavailableError("str data");
    return out;
  }
  if (uint64_t utf8 = field<uint64_t>(h, kUnicodeUtf8)) {
    out.resize(std::min<uint64_t>(field<uint64_t>(h, kUnicodeUtf8Length), kMaxString));
    if (!out.empty() && !read_mem(pid, utf8, out.data(), out.size())) return absl::UnavailableError("str utf8");
    return out;
  }
  if (kind != 1 && kind != 2 && kind != 4) return absl::DataLossError("a str object of an unknown kind");
  std::vector<uint8_t> raw(length * kind);
  if (!raw.empty() && !read_mem(pid, addr + kCompactData, raw.data(), raw.size()))
    return absl::UnavailableError("str data");
  for (uint64_t i = 0; i < length; ++i) {
    uint32_t cp = 0;
    memcpy(&cp, raw.data() + i * kind, kind);  // little-endian
    append_utf8(out, cp);
  }
  return out;
}

absl::StatusOr<std::string> read_bytes(uint32_t pid, uint64_t addr) {
  int64_t size = 0;
  if (!read_value(pid, addr + kVarSize, size) || size < 0 || static_cast<uint64_t>(size) > kMaxLinetable)
    return absl::UnavailableError("cannot read a bytes object");
  std::string out(static_cast<size_t>(size), '\0');
  if (size && !read_mem(pid, addr + kBytesData, out.data(), out.size())) return absl::UnavailableError("bytes data");
  return out;
}

// Objects/locations.md: varints of 6-bit chunks, bit 6 = more follow.
uint32_t read_varint(std::string_view t, size_t& p) {
  uint32_t val = 0;
  for (int shift = 0; p < t.size() && shift < 32; shift += 6) {
    const uint8_t b = static_cast<uint8_t>(t[p++]);
    val |= static_cast<uint32_t>(b & 63) << shift;
    if (!(b & 64)) break;
  }
  return val;
}

int read_svarint(std::string_view t, size_t& p) {
  const uint32_t u = read_varint(t, p);
  return (u & 1) ? -static_cast<int>(u >> 1) : static_cast<int>(u >> 1);
}

}  // namespace

int cpython311_line(std::string_view t, int firstlineno, int byte_offset) {
  if (byte_offset < 0) return firstlineno;
  int line = firstlineno;
  int start = 0;
  size_t p = 0;
  while (p < t.size()) {
    const uint8_t first = static_cast<uint8_t>(t[p]);
    if (!(first & 0x80)) return 0;  // not the start of an entry: a corrupt table
    const int code = (first >> 3) & 15;
    const int end = start + ((first & 7) + 1) * 2;  // code units of 2 bytes
    size_t q = p + 1;
    int delta = 0;
    if (code == 14 || code == 13) delta = read_svarint(t, q);  // long form, no-column form
    else if (code >= 10 && code <= 12) delta = code - 10;      // one-line forms
    line += delta;                                             // short forms (0-9) and none (15): 0
    if (byte_offset < end) return code == 15 ? 0 : line;
    start = end;
    for (p = q; p < t.size() && !(static_cast<uint8_t>(t[p]) & 0x80); ++p) {
    }
  }
  return 0;
}

CpythonFrames::Process& CpythonFrames::process(uint32_t pid) {
  Process& p = procs_[pid];
  const uint64_t now = monotonic_ns();
  if (p.python || now < p.next_check_ns) return p;
  // Not (yet) a Python process: a launcher (env, a pyenv shim) may exec the interpreter
  // later, so look again when its executable changes, at most every 50 ms.
  p.next_check_ns = now + 50'000'000;
  std::string exe = read_exe(pid);
  if (exe == p.exe && p.exe_since_ns) return p;
  p.exe = exe;
  p.exe_since_ns = now;
  resolve(pid, p);
  return p;
}

void CpythonFrames::resolve(uint32_t pid, Process& p) {
  auto maps = read_maps(pid);
  if (!maps.ok()) return;
  for (const auto& m : *maps) {
    if (m.offset != 0 || m.path.empty() || m.path[0] != '/') continue;
    const std::string base = m.path.substr(m.path.rfind('/') + 1);
    if (!absl::StartsWith(base, "python") && !absl::StartsWith(base, "libpython")) continue;
    auto rt = exported_symbol(m.path, "_PyRuntime");
    if (!rt.ok()) continue;
    auto at = [&](const ExportedSymbol& s) {
      return s.position_independent ? m.start + s.value - s.first_load_vaddr : s.value;
    };
    p.python = true;
    p.runtime = at(*rt);
    p.runtime_size = rt->size;
    p.info = {pid, m.path, "", false, ""};
    // Py_Version (3.11+) is PY_VERSION_HEX: 0x030B02F0 = 3.11.2 final.
    uint32_t hex = 0;
    if (auto v = exported_symbol(m.path, "Py_Version"); v.ok() && read_value(pid, at(*v), hex)) {
      p.info.version = absl::StrFormat("%d.%d.%d", hex >> 24, (hex >> 16) & 0xFF, (hex >> 8) & 0xFF);
      p.supported = (hex >> 16) == 0x030B;
    }
    p.info.supported = p.supported;
    if (!p.supported)
      p.info.note = absl::StrCat("CPython ", p.info.version.empty() ? "older than 3.11" : p.info.version, " in ",
                                 m.path,
                                 ": ccprof reads Python frames of CPython 3.11 only; findings show native stacks "
                                 "only");
    spdlog::debug("python frames: pid {} runs CPython {} ({}), _PyRuntime at {:#x}{}", pid, p.info.version, m.path,
                  p.runtime, p.supported ? "" : ", unsupported");
    return;
  }
}

absl::StatusOr<uint64_t> CpythonFrames::thread_state(uint32_t pid, Process& p, uint32_t tid) {
  if (auto it = p.tstates.find(tid); it != p.tstates.end()) {
    uint64_t native = 0;
    if (read_value(pid, it->second + kTstateNativeThreadId, native) && native == tid) return it->second;
    p.tstates.erase(it);
  }
  uint64_t interp = 0;
  if (!read_value(pid, p.runtime + kRuntimeInterpretersHead, interp)) return absl::UnavailableError("no interpreters");
  for (int i = 0; interp && i < kMaxInterpreters; ++i) {
    uint64_t ts = 0;
    if (!read_value(pid, interp + kInterpThreadsHead, ts)) break;
    for (int n = 0; ts && n < kMaxThreads; ++n) {
      uint8_t buf[kTstateNativeThreadId + 8];
      if (!read_mem(pid, ts, buf, sizeof buf)) break;
      if (field<uint64_t>(buf, kTstateNativeThreadId) == tid) {
        p.tstates[tid] = ts;
        return ts;
      }
      ts = field<uint64_t>(buf, kTstateNext);
    }
    if (!read_value(pid, interp + kInterpNext, interp)) break;
  }
  return absl::NotFoundError(absl::StrCat("no thread state for thread ", tid));
}

const CpythonFrames::Code* CpythonFrames::code(uint32_t pid, uint64_t addr) {
  uint8_t h[kCodeAdaptive];
  if (!read_mem(pid, addr, h, sizeof h)) return nullptr;
  const uint64_t filename = field<uint64_t>(h, kCodeFilename), qualname = field<uint64_t>(h, kCodeQualname),
                 linetable = field<uint64_t>(h, kCodeLinetable);
  auto key = std::make_pair(pid, addr);
  if (auto it = codes_.find(key); it != codes_.end() && it->second.filename == filename &&
                                  it->second.qualname == qualname && it->second.linetable == linetable)
    return &it->second;
  auto file = read_str(pid, filename);
  auto function = read_str(pid, qualname);
  auto table = read_bytes(pid, linetable);
  if (!file.ok() || !function.ok() || !table.ok()) return nullptr;
  if (codes_.size() >= kMaxCodes) codes_.clear();
  Code& c = codes_[key];
  c = {filename, qualname, linetable, *std::move(file), *std::move(function), *std::move(table),
       field<int32_t>(h, kCodeFirstLineNo)};
  return &c;
}

absl::StatusOr<std::vector<model::PythonFrame>> CpythonFrames::stack(uint32_t pid, uint32_t tid) {
  Process& p = process(pid);
  if (!p.python) return absl::NotFoundError(absl::StrCat("process ", pid, " is not a CPython interpreter"));
  if (!p.supported) return absl::UnimplementedError(p.info.note);
  auto ts = thread_state(pid, p, tid);
  if (!ts.ok()) return ts.status();
  uint64_t cframe = 0, frame = 0;
  if (!read_value(pid, *ts + kTstateCframe, cframe) || !read_value(pid, cframe + kCframeCurrentFrame, frame))
    return absl::UnavailableError("cannot read the thread's current frame");
  std::vector<model::PythonFrame> out;
  for (int n = 0; frame && n < kMaxFrames; ++n) {
    uint8_t f[kFrameSize];
    if (!read_mem(pid, frame, f, sizeof f)) return absl::UnavailableError("cannot read an interpreter frame");
    const uint64_t code_addr = field<uint64_t>(f, kFrameCode);
    const Code* c = code(pid, code_addr);
    if (!c) return absl::UnavailableError("cannot read a code object");
    // _PyInterpreterFrame_LASTI: prev_instr - _PyCode_CODE(f_code), in 2-byte code units.
    const int64_t offset =
        static_cast<int64_t>(field<uint64_t>(f, kFramePrevInstr)) - static_cast<int64_t>(code_addr + kCodeAdaptive);
    const int line = offset > (1 << 30) ? 0 : cpython311_line(c->table, c->firstlineno, static_cast<int>(offset));
    out.push_back({c->file, c->function, line});
    frame = field<uint64_t>(f, kFramePrevious);
  }
  return out;
}

CpythonFrames::~CpythonFrames() {
  stop_ = true;
  if (sampler_.joinable()) sampler_.join();
}

void CpythonFrames::start_sampler(uint32_t pid) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (pid) watch_.insert(pid);
  }
  if (running_ || stop_) return;
  if (sampler_.joinable()) sampler_.join();  // it stopped: no process it watched ran Python
  running_ = true;
  sampler_ = std::thread([this] {
    while (!stop_) {
      if (!sample_once()) {
        spdlog::debug("python frames: no watched process is a CPython 3.11 interpreter; the frame sampler stops");
        break;
      }
      const timespec ts{0, static_cast<long>(kSampleIntervalNs)};
      nanosleep(&ts, nullptr);
    }
    running_ = false;
  });
}

bool CpythonFrames::sample_once() {
  std::set<uint32_t> pids;
  {
    std::lock_guard<std::mutex> l(mu_);
    pids = watch_;
  }
  // A child `run` holds before its exec still runs ccprof's own executable.
  static const std::string self_exe = read_exe(static_cast<uint32_t>(getpid()));
  bool keep = false;
  for (uint32_t pid : pids) {
    Process& p = process(pid);
    // Another CPython version is noted (infos_, below) but never read: no reason to wake.
    keep |= p.supported || (!p.python && (p.exe == self_exe || monotonic_ns() < p.exe_since_ns + kNoPythonGiveUpNs));
    if (!p.python) continue;
    {
      std::lock_guard<std::mutex> l(mu_);
      infos_[pid] = p.info;
      if (p.supported) gil_[pid] = {p.runtime, p.runtime + p.runtime_size};
    }
    if (!p.supported) continue;
    const std::vector<uint32_t> tids = list_threads(pid);
    const size_t first = tids.size() > kMaxThreadsPerPass ? (turn_++ * kMaxThreadsPerPass) % tids.size() : 0;
    for (size_t k = 0; k < tids.size() && k < kMaxThreadsPerPass; ++k) {
      const uint32_t tid = tids[(first + k) % tids.size()];
      const uint64_t t0 = monotonic_ns();
      auto frames = stack(pid, tid);
      if (!frames.ok()) continue;  // not a Python thread (yet), or it moved under the read
      std::lock_guard<std::mutex> l(mu_);
      Snapshot snap{t0, {}};
      for (const auto& f : *frames) {
        const auto next = static_cast<int32_t>(frames_.size());
        auto [it, added] = frame_ids_.try_emplace(std::make_tuple(f.file, f.function, f.line), next);
        if (added) frames_.push_back(f);
        snap.frames.push_back(it->second);
      }
      keep_read(pid, tid, t0, snap.frames);
      auto& h = history_[tid];
      h.push_back(std::move(snap));
      while (!h.empty() && (h.size() > kMaxSnapshotsPerThread || h.front().time_ns + kHistoryNs < t0)) h.pop_front();
    }
  }
  return keep;
}

void CpythonFrames::keep_read(uint32_t pid, uint32_t tid, uint64_t time_ns, const std::vector<int32_t>& frames) {
  if (auto it = open_run_.find(tid); it != open_run_.end()) {
    model::PythonReadRun& r = reads_[it->second];
    if (r.pid == pid && r.frames == frames && time_ns <= r.last_ns + kRunMaxGapNs) {
      r.last_ns = time_ns;
      return;
    }
  }
  if (reads_.size() >= kMaxReadRuns) {
    ++reads_skipped_;
    open_run_.erase(tid);
    return;
  }
  open_run_[tid] = reads_.size();
  reads_.push_back({pid, tid, time_ns, time_ns, frames});
}

std::vector<int32_t> CpythonFrames::rec_frames(model::Recording& rec, const std::vector<int32_t>& frames) {
  std::vector<int32_t> out;
  out.reserve(frames.size());
  for (int32_t i : frames) {
    auto [it, added] = rec_ids_.try_emplace(i, static_cast<int32_t>(rec.python.frames.size()));
    if (added) rec.python.frames.push_back(frames_[i]);
    out.push_back(it->second);
  }
  return out;
}

void CpythonFrames::on_wait(model::Recording& rec, uint32_t pid, uint32_t tid, uint64_t uaddr, uint64_t start_ns,
                            uint64_t duration_ns) {
  bool added;
  {
    std::lock_guard<std::mutex> l(mu_);
    added = watch_.insert(pid).second;  // a child process the launch did not name
  }
  if (added && !running_) start_sampler(0);  // it may be the Python the sampler stopped for want of
  std::lock_guard<std::mutex> l(mu_);
  auto g = gil_.find(pid);
  if (g == gil_.end() || uaddr < g->second.first || uaddr >= g->second.second) return;  // not a GIL wait
  if (rec.python.waits.size() >= kMaxStacks) {
    ++skipped_;
    return;
  }
  const uint64_t end_ns = start_ns + duration_ns;
  const Snapshot* snap = nullptr;
  for (const auto& s : history_[tid])
    if (s.time_ns >= start_ns) {
      snap = &s;
      break;
    }
  if (!snap) {
    ++failed_;  // no read of this thread since the wait began (or it was not a Python thread then)
    return;
  }
  rec.has_python = true;
  const uint64_t delay = snap->time_ns > end_ns ? snap->time_ns - end_ns : 0;
  rec.python.waits.push_back({pid, tid, uaddr, start_ns, duration_ns, delay, rec_frames(rec, snap->frames)});
}

void CpythonFrames::finish(model::Recording& rec) {
  stop_ = true;
  if (sampler_.joinable()) sampler_.join();
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [pid, info] : infos_) {
    rec.has_python = true;
    rec.python.processes.push_back(info);
  }
  if (!reads_.empty()) {
    rec.has_python = true;
    rec.python.read_period_ns = kSampleIntervalNs;
    for (auto& r : reads_) {
      r.frames = rec_frames(rec, r.frames);
      rec.python.reads.push_back(std::move(r));
    }
    reads_.clear();
    open_run_.clear();
  }
  if (rec.has_python) {
    rec.losses["python.stacks_skipped"] += skipped_;
    rec.losses["python.stack_reads_failed"] += failed_;
    rec.losses["python.frame_reads_skipped"] += reads_skipped_;
  }
}

}  // namespace ccprof::agent
