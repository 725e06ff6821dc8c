#pragma once
// The Recording: everything the agent collected from the kernel about one profile,
// in a form the analysis can re-read without root (`ccprof report`). It holds raw
// facts only (no conclusions), so a better analysis can be run on an old recording.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/decoded_access.h"
#include "model/sections.h"
#include "model/stack_frames.h"

namespace ccprof::model {

// ccprof's version (CMakeLists.txt: project VERSION), written into every recording.
inline constexpr const char* kCcprofVersion = CCPROF_VERSION;

// x86-64 user registers in DWARF register-number order (what libdw and Zydis want):
// rax rdx rcx rbx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip.
enum DwarfReg : int {
  kRax = 0, kRdx, kRcx, kRbx, kRsi, kRdi, kRbp, kRsp,
  kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15, kRip, kNumRegs
};
using UserRegs = std::array<uint64_t, kNumRegs>;

// One mapping of /proc/PID/maps (file-backed or not).
struct MemoryMap {
  uint64_t start = 0, end = 0, offset = 0;
  std::string perms;  // "r-xp"
  std::string path;   // "" for anonymous, "[heap]", "[stack]", or a file path
  uint64_t inode = 0;
  // The mapped ELF's GNU build ID (hex), read while the target lived; "" when not ELF,
  // none, or recorded before ccprof kept build IDs (`ccprof report` then trusts the path).
  std::string build_id;
};

struct ProcessInfo {
  uint32_t pid = 0;
  std::string comm;
  std::vector<std::string> cmdline;
  std::string exe;
  std::vector<MemoryMap> maps;  // union of every snapshot taken while profiling
};

struct ThreadInfo {
  uint32_t tid = 0, pid = 0;
  std::string comm;
  uint64_t start_ns = 0;  // CLOCK_MONOTONIC (same clock as bpf_ktime_get_ns); 0 = before the profile
  uint64_t end_ns = 0;    // 0 = still alive when the profile ended
};

// A user stack taken in the kernel at a point of interest. The kernel copies the user
// registers and stack bytes; the agent unwinds them while profiling into `frames` and
// drops them (kept only with --keep-stack-bytes, and in recordings of format 2).
struct StackCopy {
  uint32_t pid = 0, tid = 0;
  uint64_t time_ns = 0;
  int32_t frames = -1;         // index into Recording::stack_frames, -1 when not unwound
  UserRegs regs{};             // zero once unwound (unless kept)
  std::vector<uint8_t> stack;  // bytes from regs[kRsp] upwards; may be shorter than requested
};

// Futex operations that make a thread wait (the low 7 bits of the futex op).
enum class FutexOp : uint32_t {
  kWait = 0, kWake = 1, kLockPi = 6, kUnlockPi = 7, kWaitBitset = 9, kWaitRequeuePi = 11,
  kLockPi2 = 13, kWaitv = 100 /* futex_waitv(2): not an op of futex(2) */,
};

// One completed futex wait.
struct FutexWait {
  uint64_t uaddr = 0;
  uint32_t pid = 0, tid = 0;
  uint32_t op = 0;          // low 7 bits of the futex op, or FutexOp::kWaitv
  uint32_t expected = 0;    // val argument (2 for a contended glibc mutex)
  int32_t owner_tid = 0;    // glibc pthread_mutex_t.__owner at wait start (0 when unknown)
  int32_t ret = 0;          // syscall return value
  uint64_t start_ns = 0, duration_ns = 0;
  int32_t stack = -1;       // index into Recording::stacks, -1 when not sampled
  // What the owner was doing when the wait began (from the sched collector's thread
  // states; owner_syscall = -1 when it was not in a syscall or nothing is known,
  // kOwnerPreempted when it was runnable but preempted: waiting for a CPU).
  static constexpr int32_t kOwnerPreempted = -2;  // = CCPROF_OWNER_PREEMPTED (bpf/common.h)
  int32_t owner_syscall = -1;
  uint64_t owner_syscall_since_ns = 0;
  uint64_t owner_syscall_ip = 0;  // user IP at the owner's syscall entry
  // The futex word the kernel waited on when it is not the lock (`uaddr` is then the
  // lock object, e.g. an absl::Mutex whose waiters sleep on per-thread semaphores).
  uint64_t word = 0;
  // The thread whose FUTEX_WAKE ended the wait: it released the lock (0 = unknown).
  uint32_t waker_tid = 0;
  // When that FUTEX_WAKE entered the kernel (0 = unknown, and in recordings from before
  // it): the handover from the release to this waiter's return from the wait is
  // start_ns + duration_ns - woken_ns (the wake's IPI, the wake-to-run delay, the exit).
  uint64_t woken_ns = 0;
};

// Exact per-address totals kept in kernel maps (complete even when the ring buffer drops).
struct FutexAddrStats {
  uint64_t uaddr = 0;
  uint32_t pid = 0;
  uint64_t waits = 0, wait_ns = 0, max_wait_ns = 0, wakes = 0;
  std::array<uint64_t, 32> hist_log2_ns{};  // bucket i: wait in [2^i, 2^(i+1)) ns
};

// Everything counted as dropped, failed or unresolved by a collector, by name
// ("futex.ringbuf_drops", "futex.stack_copy_failed", ...). Shown in every report.
using LossCounters = std::map<std::string, uint64_t>;

// A copy of user stack bytes taken with a memory sample: the decoder reads the
// stack slot an overwritten base register was loaded from (-O0 code reloads a
// pointer from its slot into the register it then dereferences).
struct StackWindow {
  uint64_t addr = 0;           // user address of bytes[0]
  std::vector<uint8_t> bytes;  // empty when the kernel could not read it
};

// One memory-access sample (decode mode: a timer sample with registers and code;
// PMU mode: a precise sample with a data address). Filled by the sampler collector.
struct MemorySample {
  uint32_t pid = 0, tid = 0, cpu = 0;
  uint64_t time_ns = 0;
  UserRegs regs{};
  uint64_t fsbase = 0;
  // PMU mode only: the sampled data address and PERF_SAMPLE_DATA_SRC; 0 in decode mode.
  uint64_t data_addr = 0;
  uint64_t data_src = 0;
  uint32_t weight = 0;  // PMU latency weight, 0 when unknown
  bool pmu = false;
  // Decode mode: the stack around rsp and below rbp at the sample (bpf/sample.h);
  // empty in recordings made before it was collected.
  std::vector<StackWindow> stack_windows;
  // Decode mode, live profiles only: the access the agent's drain thread decoded while
  // trimming the stack windows (model/stack_frames.h), on the same bytes the analysis
  // would decode; the analysis takes it instead of decoding the sample again after the
  // window. Never written to the recording file: `ccprof report` decodes again.
  std::optional<SampleDecode> decoded;
};

class TargetFiles;  // model/target_files.h

struct Recording {
  // 2: typed sections (futex, lockrate, memory_sampler, sched), keys spelled once.
  // 3: stacks as deduplicated frame lists (stack_frames); raw stack bytes optional.
  // 4: the CBOR payload zstd-compressed (a MariaDB profile: 38 MB -> ~8 MB per minute).
  static constexpr uint32_t kFormatVersion = 4;
  static constexpr uint32_t kOldestReadableVersion = 2;

  std::string ccprof_version;
  std::string mode;  // "run" or "attach"
  std::vector<std::string> command;  // for "run"
  int32_t exit_code = -1;            // target's exit code for "run", -1 when unknown
  std::string hostname, kernel;
  uint32_t online_cpus = 0;
  uint64_t start_ns = 0, end_ns = 0;  // CLOCK_MONOTONIC

  std::vector<ProcessInfo> processes;
  std::vector<ThreadInfo> threads;
  std::vector<StackCopy> stacks;
  std::vector<StackFrames> stack_frames;  // unique unwound stacks, named by StackCopy::frames
  std::vector<FutexWait> futex_waits;
  std::vector<FutexAddrStats> futex_addrs;
  std::vector<MemorySample> memory_samples;
  // The collectors' own sections; a collector that did not run leaves its section empty
  // (has_* false), which the rules read as "not measured", never as zero.
  ProfileMode profile_mode;  // absent from recordings made before it: "default"
  FutexSection futex;
  std::vector<LockYield> lock_yields;  // the futex collector's sched_yield() totals
  MemorySamplerSection memory_sampler;
  bool has_lockrate = false;
  LockRateSection lockrate;
  bool has_lockhold = false;  // critical sections, measured in the lockrate windows
  LockHoldSection lockhold;
  bool has_sched = false;
  SchedSection sched;
  bool has_sched_timeline = false;  // every run of every thread (recordings since issue 14)
  SchedTimelineSection sched_timeline;
  bool has_python = false;  // Python frames at futex waits (CPython 3.11 only)
  PythonSection python;
  LossCounters losses;
  // The target's files opened while profiling (containers, deleted binaries); not
  // serialized: null for a recording read back from a file.
  std::shared_ptr<const TargetFiles> target_files;

  const ProcessInfo* process(uint32_t pid) const;
  const ThreadInfo* thread(uint32_t tid) const;
  double duration_s() const { return end_ns > start_ns ? (end_ns - start_ns) / 1e9 : 0.0; }
};

// The bytes of a recording file (header + CBOR payload), for writers that write it
// together with other files (report/output_set.h).
std::string encode_recording(const Recording& rec);
// The CBOR payload encode_recording frames (uncompressed), for tests that rewrite it.
std::string recording_cbor(const Recording& rec);
// The same document through a JSON value of the whole recording (the slow way
// recording_cbor() avoids for the bulk arrays), for the test that holds the two equal.
std::string recording_cbor_from_json(const Recording& rec);
// A recording file around an encoded payload: magic, `version`, length and CRC as the
// reader checks them, the payload zstd-compressed from version 4 on. encode_recording's
// framing; tests and fuzzers frame their own (hostile, older-version or mutated)
// payloads with it.
std::string recording_file_bytes(uint32_t version, std::string_view cbor_payload);
// Writes atomically (temp file + rename): a crash never leaves a half-written file.
absl::Status save_recording(const Recording& rec, const std::string& path);
// Rejects truncated, corrupt or foreign files with a message that says which.
absl::StatusOr<Recording> load_recording(const std::string& path);

}  // namespace ccprof::model
