#pragma once
// Every threshold a rule uses, named, with the reason for its value. The fixed
// variants of the scenario workloads (SCENARIOS.md) are the false-positive check.
#include <cstdint>

namespace ccprof::profiler::thresholds {

// ---- locks (futex collector) -------------------------------------------------------

// A lock is "contended" when its waits cost at least this share of the waiting
// threads' time: below ~5% a lock is rarely the reason a program does not scale, and
// the fixed s01 (per-thread maps merged once) waits well under 1%.
inline constexpr double kLockContentionMinShare = 0.05;
// ...and at least this much absolute waiting, so a 50 ms profile with one unlucky
// wait does not raise a finding (the noise floor of scheduling on a busy machine).
inline constexpr double kLockContentionMinWaitS = 0.05;
// ...by at least this many distinct waiting threads: one thread waiting on one other
// is a handoff or a pipeline, not threads serialising on a shared lock.
inline constexpr int kLockContentionMinWaiters = 2;
// Waits on a futex whose stacks show a condition variable are idle/handoff time, not
// contention; a lock is taken as a mutex when at least this share of its sampled
// stacks pass through a mutex-lock function (or, without stacks, when the futex word
// was 2 = "locked, with waiters", glibc's contended-mutex value).
inline constexpr double kMutexStackShare = 0.5;
// An owner tid is trusted only when it is a thread of the target; besides, the share
// of waits with a valid owner must reach this to print "owners seen".
inline constexpr double kOwnerEvidenceMinShare = 0.2;

// Confidence of a lock finding: high when at least this many waits were seen and at
// least this many stacks agree on the call site.
inline constexpr uint64_t kHighConfidenceWaits = 100;
inline constexpr uint64_t kHighConfidenceStacks = 10;


// ---- sched (scheduler/syscall collector: profiler/sched_rules.cc) ------------------

// lock-held-across-io: the owner was in a blocking syscall (io/sleep/poll) when at
// least this share of the lock's wait time began. In s13 bad nearly every wait starts
// while the owner is in pread()/poll() (~2 ms of I/O per miss, all under the lock);
// in s13 fixed the lock covers only the map and an owner is almost never in I/O.
inline constexpr double kLockIoMinShare = 0.3;
// ...and at least this much wait time explained, like kLockContentionMinWaitS (noise floor).
inline constexpr double kLockIoMinWaitS = 0.05;
// ...over at least this many waits, so one slow page fault under a lock is not a pattern.
inline constexpr uint64_t kLockIoMinWaits = 10;

// pool-saturated-io: a worker is a non-main thread alive for at least this share of
// the profile (pools are long-lived; short threads are thread-churn's business) ...
inline constexpr double kPoolMinLifetimeShare = 0.5;
// ...making at least this many blocking syscalls per second (a worker serving I/O
// tasks; a thread that sleeps once for the whole run, like a timer, is not one).
inline constexpr double kPoolMinBlockingCallsPerS = 20;
// ...and at least this many such workers: one thread doing I/O all day is a reader
// or a logger, not a pool (a 1-core machine's 1-thread pool goes unreported).
inline constexpr int kPoolMinWorkers = 2;
// Every worker is "busy" (on CPU or blocked in I/O, not waiting for work) at least
// this share of its life. s05 bad: ~99% (the queue never empties); s05 fixed: the
// pool is sized so workers are busy ~50% of the time.
inline constexpr double kPoolMinBusyShare = 0.8;
// ...most of that busy time blocked in I/O, not computing (an I/O-bound pool).
inline constexpr double kPoolMinIoShare = 0.5;
// ...while the CPUs sit idle: the process used at most this share of all cores
// (s05 bad uses ~2%; a pool that keeps the cores busy is sized right for its CPUs).
inline constexpr double kPoolMaxCpuUtilization = 0.5;
// Little's law target utilisation of the cores (the seed's example uses 90%).
inline constexpr double kPoolTargetUtilization = 0.9;
// Raise the finding only when Little's law asks for at least this many times the
// current pool: a pool within 50% of its ideal size is not the bottleneck.
inline constexpr double kPoolMinGrowth = 1.5;

// oversubscription: a thread is CPU-bound when it is on a CPU or waiting for one at
// least this share of its life (it rarely blocks) ...
inline constexpr double kOversubCpuBoundShare = 0.8;
// ...and alive for at least this share of the profile (not a churned thread).
inline constexpr double kOversubMinLifetimeShare = 0.5;
// Fire when CPU-bound threads >= this many per core. 32 threads on 2 cores is 16 per
// core, 2 threads on 2 cores is 1. Not 2: the 4-thread spinning workloads (s03, s11,
// s12) on a 2-core machine are 2 per core, and there the cache line, not the thread
// count, is the problem worth reporting first.
inline constexpr double kOversubMinThreadsPerCore = 4.0;
// ...and they spent at least this share of their time runnable-but-waiting for a CPU
// (k threads per core wait ~1 - 1/k of the time: 75% at 4 per core).
inline constexpr double kOversubMinRunqShare = 0.5;

// thread-churn: at least this many threads created per second of profile (a pool
// creates its threads once: s08 fixed creates `cores` threads in total) ...
inline constexpr double kChurnMinCreationsPerS = 100;
// ...and at least this many in all, so a short profile of a program starting a pool is not churn.
inline constexpr uint64_t kChurnMinThreads = 50;
// ...with a median lifetime under this: a thread that lives 10 ms or less exists for
// one small task (s08 bad: ~50 µs; creating one costs ~10-100 µs).
inline constexpr double kChurnMaxMedianLifetimeS = 0.01;

// unbounded-queue: RSS grew by at least this much over the profile (s10 bad queues
// ~25-100 MiB/s depending on how much CPU the busy 2-core machine leaves it; s10 fixed
// holds at most 1 MiB of records) ...
inline constexpr double kQueueMinGrowthBytes = 16.0 * 1024 * 1024;
// ...and by at least this share of the smallest RSS seen (a big program growing
// a little is not a runaway queue) ...
inline constexpr double kQueueMinGrowthShare = 0.5;
// ...steadily: RSS rose in at least this share of the sampling intervals where it moved
// (s10 bad climbs ~100 MiB/s until its cap; s10 fixed stays flat at ~1 MiB of queue).
inline constexpr double kQueueMinRisingShare = 0.7;
// ...with at least this many RSS samples (one per 100 ms: half a second of trend).
inline constexpr size_t kQueueMinSamples = 5;
// The producer never blocks: some thread spent at most this share of its life
// blocked (futex waits, sleeps, I/O) while memory grew.
inline constexpr double kQueueProducerMaxBlockedShare = 0.2;

}  // namespace ccprof::profiler::thresholds
