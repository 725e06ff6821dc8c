#pragma once
// The collectors' sections of a Recording, one typed struct each. Each collector
// writes its own section; the rules read them through the index (profiler/index.h).
// (De)serialization is in model/codec.cc, one function pair per struct.
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/syscalls.h"

namespace ccprof::model {

// ---- the profile's cost mode ----------------------------------------------------------

// How much the collectors were allowed to cost the target. "default": everything at its
// full rate. "continuous": the always-on mode (`--mode continuous`, `ccprof serve`), with
// what it gives up, one sentence each, shown in the report and in `ccprof doctor`.
struct ProfileMode {
  std::string name = "default";
  std::vector<std::string> gives_up;
};

// ---- futex collector ---------------------------------------------------------------

// How the agent sampled the wait events (the kernel's per-address totals stay exact).
struct FutexSection {
  uint64_t wait_events_seen = 0;  // waits the ring buffer delivered
  uint64_t wait_events_kept = 0;  // kept in Recording::futex_waits (a uniform sample when busy)
  uint64_t keep_every = 1;        // 1 in N when sampling
};

// sched_yield() calls of one thread from one return address (the futex collector): lock
// libraries spin and yield before they sleep, and that time is waiting for the lock.
// `lock` is the lock of the probed slow path the thread was in (lock_slow_paths.h), 0
// outside one; the profiler keeps the calls made by lock-library code (lock_yields.h).
struct LockYield {
  uint32_t pid = 0, tid = 0;
  uint64_t lock = 0, caller = 0;  // caller: the return address into the calling code
  uint64_t yields = 0, yield_ns = 0;
};

// ---- lockrate collector (uprobe windows on pthread_mutex_lock) ---------------------

struct LockCallCount {
  uint32_t pid = 0, tid = 0;
  uint64_t lock = 0, caller = 0;  // mutex address, return address of the call
  uint64_t calls = 0;
};

struct LockRateSection {
  double window_s = 0;  // how long the uprobe was attached in all
  uint64_t windows = 0;
  std::vector<std::pair<uint64_t, uint64_t>> intervals_ns;  // [start, end) CLOCK_MONOTONIC
  std::string libc;                                          // the object the uprobe was on
  std::vector<LockCallCount> entries;
};

// ---- critical sections (the lockrate collector's windows, bpf/lockrate.h) ------------

// Holds of one mutex acquired at one call site, inside the uprobe windows.
struct LockHoldSite {
  uint32_t pid = 0;
  uint64_t lock = 0;
  uint64_t caller = 0;  // return address of the acquiring call; 0 = acquired before a window
  uint64_t holds = 0, hold_ns = 0, max_ns = 0;  // complete holds (acquired and released in a window)
  // Holds cut by a window's edge (acquired before it opened, or still held when it
  // closed): only their part inside the window, so the share of time held is not biased
  // towards short holds; never in the distribution.
  uint64_t clipped = 0, clipped_ns = 0;
  std::vector<std::pair<uint32_t, uint64_t>> hist;  // (bucket, holds), non-zero buckets only
};

// Thread `tid` took `second` while it held `first` (each with its acquiring call site).
struct LockOrderPair {
  uint32_t pid = 0, tid = 0;
  uint64_t first = 0, first_caller = 0;
  uint64_t second = 0, second_caller = 0;
  bool trylock = false;  // the second was a pthread_mutex_trylock (cannot deadlock by itself)
  uint64_t count = 0;
};

// One sampled critical section (bpf/lockrate.h, the holders' stacks): the holder's
// stack copied at the acquisition, and how long that hold lasted.
struct LockHoldSample {
  uint32_t pid = 0, tid = 0;
  uint64_t lock = 0, caller = 0;  // caller: return address of the acquiring call
  uint64_t hold_ns = 0;
  int32_t stack = -1;  // index into Recording::stacks, -1 when the copy never arrived
};

struct LockHoldSection {
  double window_s = 0;    // time the critical-section probes were live (a subset of the lockrate windows)
  uint64_t windows = 0;
  uint32_t hist_sub_bits = 2;  // buckets per power of two of ns = 2^hist_sub_bits
  std::vector<LockHoldSite> sites;
  std::vector<LockOrderPair> order;
  std::vector<LockHoldSample> samples;  // a bounded sample of holds per mutex; none before it existed
};

// ---- memory sampler ---------------------------------------------------------------

// The decode-mode sampler lowered its rate to stay under its CPU budget
// (agent/sampler_budget.h): from `at_s` after the window's start, `hz` per CPU.
struct SamplerRateChange {
  double at_s = 0;
  uint32_t hz = 0;
  double share = 0;    // the sampler's estimated share of the CPUs over the second before
  std::string why;     // "over budget" or "drain thread busy"
};

struct MemorySamplerSection {
  std::string mode = "off";  // "decode", "pmu" or "off"
  std::string reason;        // why that mode
  uint32_t frequency_hz = 0; // the window's effective rate: every sample stands for period_ns
  uint64_t period_ns = 0;    // CPU time per sample in decode mode, 0 otherwise
  std::vector<std::string> events;
  uint64_t target_samples = 0, all_samples = 0;  // what the BPF program saw
  // Decode mode's rate control (empty in recordings made before it): the rate asked
  // for, the budget (a share of all CPUs; 0 = none), the rate changes, and the
  // sampler's cost over the window, measured (BPF, the agent's drain thread) and
  // estimated (the timer's interrupts: `fires` x interrupt_ns, 0 on the tick).
  uint32_t requested_hz = 0;
  double budget = 0;
  std::vector<SamplerRateChange> rate_changes;
  uint64_t fires = 0;           // timer or tick firings the program ran on (= all_samples)
  double bpf_s = 0, agent_s = 0, interrupt_s = 0;
  double interrupt_ns = 0;      // the per-firing estimate behind interrupt_s
  double cost_window_s = 0;     // the time those costs were measured over
  double cost_share = 0;        // those costs over the sampled CPUs' time (the budget's measure)
};

// ---- Python frames at GIL waits and memory samples (agent/cpython_frames.h) ------------------------------

// One interpreter frame, resolved in the agent while the target lived (no raw memory).
struct PythonFrame {
  std::string file, function;  // co_filename, co_qualname
  int32_t line = 0;            // from co_linetable and the frame's last instruction; 0 = unknown
};

// The Python stack of a thread just after one of its futex waits ended, innermost first.
struct PythonWaitStack {
  uint32_t pid = 0, tid = 0;
  uint64_t uaddr = 0;                 // the futex of the wait (joins the lock table)
  uint64_t start_ns = 0, duration_ns = 0;
  uint64_t read_delay_ns = 0;         // from the wait's end to the read of the frames; 0 = read during it
  std::vector<int32_t> frames;        // indices into PythonSection::frames
};

// What the agent found in each Python process it saw wait.
struct PythonProcess {
  uint32_t pid = 0;
  std::string object;   // the module exporting _PyRuntime (the python binary or libpython)
  std::string version;  // "3.11.2"; "" when unknown
  bool supported = false;
  std::string note;     // why frames are not read when unsupported
};

// The sampler's reads of one thread's Python stack, run-length encoded: every read from
// first_ns to last_ns (one per read period, none missed) found these frames.
struct PythonReadRun {
  uint32_t pid = 0, tid = 0;
  uint64_t first_ns = 0, last_ns = 0;
  std::vector<int32_t> frames;  // indices into PythonSection::frames, innermost first
};

struct PythonSection {
  std::vector<PythonProcess> processes;
  std::vector<PythonFrame> frames;  // unique
  std::vector<PythonWaitStack> waits;
  // Every read the sampler made (memory samples take the one nearest in time, in the
  // analysis: profiler/python_reads.h); empty in recordings made before them.
  uint64_t read_period_ns = 0;
  std::vector<PythonReadRun> reads;
};

// ---- sched collector ----------------------------------------------------------------

struct SchedThread {
  uint32_t pid = 0, tid = 0;
  std::string comm;
  uint64_t created_ns = 0;     // 0 = existed before the profile
  uint64_t exited_ns = 0;      // 0 = alive when the profile ended
  uint64_t first_seen_ns = 0;
  uint64_t on_cpu_ns = 0;
  uint64_t off_cpu_ns = 0;     // switched out to switched in (includes runq_ns after preemption)
  uint64_t runq_ns = 0;        // runnable, waiting for a CPU (wakeup or preemption -> on CPU)
  uint64_t max_runq_ns = 0;
  uint64_t runq_count = 0;
  uint64_t voluntary_switches = 0, involuntary_switches = 0;
  uint64_t wakeups = 0;
  std::array<uint64_t, kNumSyscallClasses> syscall_ns{};  // wall time in syscalls, by class
  std::array<uint64_t, kNumSyscallClasses> syscall_count{};

  uint64_t blocking_syscall_ns() const;  // io + sleep + poll
  uint64_t class_ns(SyscallClass c) const { return syscall_ns[static_cast<int>(c)]; }
  uint64_t class_count(SyscallClass c) const { return syscall_count[static_cast<int>(c)]; }
};

// Totals per (process, syscall, user IP of the syscall instruction). Futex excluded.
struct SyscallSite {
  uint32_t pid = 0;
  int32_t nr = -1;
  uint64_t ip = 0;
  uint64_t count = 0, total_ns = 0, max_ns = 0;
};

// One blocking syscall (io/sleep/poll) at least SchedSection::long_syscall_ns long,
// or a stack-sampled spawn / memory-growth syscall (those always have a stack).
struct SyscallSample {
  uint32_t pid = 0, tid = 0;
  int32_t nr = -1;
  uint64_t enter_ns = 0, duration_ns = 0;
  uint64_t ip = 0;
  int32_t stack = -1;  // index into Recording::stacks, -1 when not sampled
};

struct RssSample {
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC
  uint32_t pid = 0;
  uint64_t rss_bytes = 0;
  // The anonymous part (RssAnon): heap, stacks, private mappings. File pages (an mmap'd
  // input being read) are resident memory too, but no queue ever holds them.
  uint64_t anon_bytes = 0;
};

struct SchedSection {
  uint64_t long_syscall_ns = 0;  // the collector's threshold for SyscallSample
  std::vector<SchedThread> threads;
  std::vector<SyscallSite> syscall_sites;
  std::vector<SyscallSample> long_syscalls;  // and the sampled spawn/memory-growth calls
  std::vector<RssSample> rss;

  const SchedThread* thread(uint32_t tid) const;
};

// ---- CPU timeline (the sched collector's runs, agent/sched_timeline.h) --------------

// One run of a thread on a CPU: runnable (waiting for a CPU) from ready_ns to on_ns, on
// CPU `cpu` from on_ns to off_ns. Between two runs of a thread with consecutive `seq`
// the thread was off CPU and not runnable (blocked); a gap in `seq` is runs that were
// not recorded (the budget or a full ring buffer: the sched.runs_* losses).
struct ThreadRun {
  static constexpr uint16_t kPreempted = 1;  // still runnable when switched out
  static constexpr uint16_t kExiting = 2;    // the thread was exiting
  static constexpr uint16_t kOpen = 4;       // on its CPU when the profile ended (off_ns = the end)
  uint32_t pid = 0, tid = 0;
  uint64_t ready_ns = 0, on_ns = 0, off_ns = 0;  // CLOCK_MONOTONIC
  uint32_t seq = 0;
  uint32_t coalesced = 0;     // switch-outs folded into this run (back on the same CPU right away)
  uint32_t coalesced_ns = 0;  // the time between them, off CPU but drawn as part of the run
  uint16_t cpu = 0;
  uint16_t flags = 0;

  uint64_t running_ns() const { return off_ns - on_ns - coalesced_ns; }
};

struct SchedTimelineSection {
  uint64_t runs_per_s = 0;   // the budget: runs recorded per CPU per second
  uint64_t window_ns = 0;    // in windows of this length (runs_per_s * window_ns / 1 s each)
  uint64_t coalesce_ns = 0;  // a thread back on the same CPU within this is one run
  std::vector<ThreadRun> runs;
};

}  // namespace ccprof::model
