#include "profiler/catalog.h"

#include <cstdlib>

#include "spdlog/spdlog.h"

namespace ccprof::profiler {

const std::vector<KindInfo>& finding_kinds() {
  using S = SubjectKind;
  static const std::vector<KindInfo> kKinds = {
      {"lock-contention", 1, "lock contention serialises a parallel map", "shard", "Lock contention",
       "shard the lock (striped or per-thread data merged once)", S::kLock, true},
      {"read-mostly-lock", 2, "read-write lock when reads dominate", "rwlock-or-snapshot", "Read-mostly lock",
       "shared_mutex, or better an atomic pointer to an immutable snapshot", S::kLock},
      {"false-sharing", 3, "false sharing of per-thread counters", "pad", "False sharing",
       "give each thread's data its own cache line (alignas(64)) or keep it thread-local", S::kCacheLine},
      {"lock-for-single-word", 4, "mutex vs atomic vs channel", "atomic", "Mutex around one word",
       "replace the mutex with one std::atomic operation", S::kLock},
      {"pool-saturated-io", 5, "thread-pool sizing", "resize-pool", "I/O-bound pool saturated",
       "size the pool by Little's law, or use async I/O", S::kThreadPool},
      {"retrograde-scaling", 6, "more parallelism is slower (USL)", "cap-concurrency", "Retrograde scaling",
       "cap concurrency at the fitted peak", S::kProcess},
      {"per-item-synchronization", 7, "batching amortises synchronisation", "batch", "Per-item synchronization",
       "batch items per lock acquisition", S::kLock},
      {"thread-churn", 8, "context-switch / thread overhead", "use-pool", "Thread churn", "reuse threads from a pool", S::kProcess},
      {"gil-contention", 9, "the Python GIL", "multiprocessing", "GIL contention",
       "processes instead of threads, or native code that releases the GIL", S::kProcess},
      {"unbounded-queue", 10, "back-pressure", "bound-queue", "Unbounded queue", "bound the queue so producers block", S::kProcess},
      {"cas-retry-storm", 11, "lock-free stack under contention", "shard", "CAS retry storm",
       "per-thread structures (a mutex may beat a contended CAS loop)", S::kWord},
      {"hot-atomic", 12, "hot shared counter", "shard-counter", "Hot atomic", "per-thread padded cells, summed on read", S::kWord},
      {"lock-held-across-io", 13, "lock held across I/O", "move-io-out-of-lock", "Lock held across I/O",
       "do the I/O outside the critical section", S::kLock},
      {"handoff-stall", 14, "fan-out with the wrong buffer", "buffer-queue", "Hand-off stall",
       "a buffered queue of about workers to 2x workers", S::kLock},
      {"lock-order-inversion", 15, "two locks taken in opposite orders", "one-lock-order", "Lock-order inversion",
       "take the mutexes in one global order everywhere, or both at once with std::scoped_lock", S::kLock},
      {"oversubscription", 0, "a CPU-bound pool larger than the cores", "resize-pool", "Oversubscription",
       "no more CPU-bound threads than cores", S::kThreadPool},
  };
  return kKinds;
}

const KindInfo* kind_info(std::string_view kind) {
  for (const auto& k : finding_kinds())
    if (k.kind == kind) return &k;
  return nullptr;
}

void set_kind(Finding& f, std::string_view kind) {
  const KindInfo* k = kind_info(kind);
  if (!k) {
    spdlog::critical("finding kind '{}' is not in the catalog (profiler/catalog.cc)", kind);
    std::abort();
  }
  f.kind = std::string(k->kind);
  f.scenario = k->scenario;
  f.remedy.kind = std::string(k->remedy_kind);
}

Finding new_finding(std::string_view kind) {
  Finding f;
  set_kind(f, kind);
  return f;
}

const std::vector<LossInfo>& loss_counters() {
  static const std::vector<LossInfo> kLosses = {
      {"futex.wait_events_dropped", "futex waits whose event was lost when the ring buffer was full (totals stay exact)"},
      {"futex.stack_events_dropped", "stack copies lost when the stack ring buffer was full"},
      {"futex.stack_copy_failed", "stack copies that faulted on the first chunk"},
      {"futex.stack_copies_lost", "waits whose stack copy never arrived"},
      {"futex.stacks_rate_limited", "waits not stack-sampled because of the per-lock rate limit (sampling by design)"},
      {"futex.addr_map_full", "futex addresses beyond the kernel map's capacity: their totals are missing"},
      {"futex.start_map_full", "waits not recorded because the in-flight map was full"},
      {"futex.thread_events_dropped", "thread create/exit events lost (lifetimes come from /proc instead)"},
      {"sched.thread_events_dropped", "thread create/exit events lost when the ring buffer was full"},
      {"sched.syscall_events_dropped", "long blocking syscalls whose event was lost (per-thread totals stay exact)"},
      {"sched.stack_events_dropped", "syscall stack copies lost when the ring buffer was full"},
      {"sched.stack_copy_failed", "syscall stack copies that faulted on the first chunk"},
      {"sched.stack_copies_lost", "syscall samples whose stack copy never arrived"},
      {"sched.stacks_rate_limited", "syscalls not stack-sampled because of the rate limit (sampling by design)"},
      {"sched.thread_map_full", "threads beyond the kernel map's capacity: their times are missing"},
      {"sched.state_map_full", "threads whose current syscall could not be tracked (owner states incomplete)"},
      {"sched.site_map_full", "syscall call sites beyond the kernel map's capacity"},
      {"sampler.ringbuf_drops", "memory-access samples lost when the ring buffer was full"},
      {"sampler.kernel_mode_samples", "timer samples that hit the kernel (no user instruction to decode)"},
      {"sampler.stack_window_failed",
       "memory samples whose stack window could not be copied (no base recovery from stack slots)"},
      {"sampler.pmu_lost_records", "PMU sample records the kernel reported lost"},
      {"sampler.pmu_unparsed_records", "PMU records that could not be parsed"},
      {"sampler.no_address.", "memory samples without a data address, by cause"},
      {"lockrate.uprobe_attach_failed", "the lock-rate uprobe could not be attached (no lock acquisition rates)"},
      {"lockrate.map_full", "lock call sites beyond the lock-rate map's capacity"},
      {"lockrate.hold_probe_attach_failed",
       "lock-rate windows in which a critical-section uprobe (unlock, trylock, condvar wait) could not be attached"},
      {"lockhold.map_full", "critical sections not measured: (mutex, call site) pairs beyond the hold map's capacity"},
      {"lockhold.order_map_full", "nested acquisitions whose lock order was not recorded (order map full)"},
      {"lockhold.nested_too_deep", "acquisitions made while already holding 4 mutexes: hold and order not tracked"},
      {"lockhold.through_condvar", "holds a condition-variable wait released and re-took: not one critical section, not measured"},
      {"unwind.failed", "stack copies that could not be unwound at all"},
      {"unwind.no_user_frame", "unwound stacks that never reached the program's own code"},
      {"unwind.unknown_process", "stacks of a process whose mappings were never read"},
      {"symbolize.unresolved_code_addresses", "instruction addresses outside any known module (JIT or unmapped)"},
      {"symbolize.no_debug_info: ",
       "no debug info: functions from the symbol table only, no file:line (install its -dbgsym or build with -g)"},
  };
  return kLosses;
}

std::string describe_loss(const std::string& name) {
  for (const auto& l : loss_counters()) {
    if (l.name == name) return std::string(l.detail);
    const bool prefix = l.name.ends_with(".") || l.name.ends_with(": ");
    if (prefix && std::string_view(name).starts_with(l.name)) {
      if (l.name == "sampler.no_address.") return std::string(l.detail) + ": " + name.substr(l.name.size());
      return std::string(l.detail);
    }
  }
  return "";
}

const char* subject_kind_name(SubjectKind k) {
  switch (k) {
    case SubjectKind::kLock: return "lock";
    case SubjectKind::kCacheLine: return "cache-line";
    case SubjectKind::kWord: return "word";
    case SubjectKind::kProcess: return "process";
    case SubjectKind::kThreadPool: return "thread-pool";
    case SubjectKind::kCallSite: return "call-site";
    case SubjectKind::kNone: break;
  }
  return "none";
}

}  // namespace ccprof::profiler
