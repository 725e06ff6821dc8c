#pragma once
// Every threshold a rule uses, named, with the reason for its value. The fixed
// variants of the scenario workloads (SCENARIOS.md) are the false-positive check.
#include <cstddef>
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

// lock-order-inversion: two mutexes seen taken in opposite orders (each while the
// other was held) by two different threads. One blocking acquisition in each order is
// the whole evidence of a potential deadlock: no count makes it more or less real, so
// the minimum is 1 per order. A trylock acquisition is not counted (it cannot wait).
inline constexpr uint64_t kLockOrderMinPerOrder = 1;
// ...and it is stated with high confidence once each order was seen this often (a
// heap mutex freed and another allocated at the same address could fake one pair).
inline constexpr uint64_t kLockOrderHighConfidence = 10;
// A lock finding names the wait-for chain behind it when waits whose owner was itself
// waiting (for another lock) carry at least this share of the recorded waits for the
// lock: below a fifth, the chain is an aside to the lock's own serialisation.
inline constexpr double kWaitChainMentionShare = 0.2;

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
// The producer is a thread that lived through at least half of the profile (not a
// short-lived helper).
inline constexpr double kQueueProducerMinLifeShare = 0.5;
// "high" confidence: RSS rose in nearly every interval and the producer almost never blocked.
inline constexpr double kQueueHighConfidenceRisingShare = 0.9;
inline constexpr double kQueueHighConfidenceMaxBlockedShare = 0.05;

// ---- memory (memory-access sampler: false sharing, hot atomics, CAS storms, ------
// ---- and what contended locks' critical sections touch) ---------------------------

// A cache line needs at least this many sampled accesses before any conclusion: at
// the default ~1 kHz per CPU that is ~20 ms of CPU time on the line, above the
// noise of a few stray samples on a line touched once.
inline constexpr uint64_t kMemoryMinLineSamples = 20;
// Confidence of a memory finding by the samples behind it.
inline constexpr uint64_t kMemoryHighConfidenceSamples = 200;
inline constexpr uint64_t kMemoryMediumConfidenceSamples = 50;
// A thread takes part in a line's false sharing when at least this many of its
// samples hit the line (fewer is an occasional touch, not a ping-pong).
inline constexpr uint64_t kFalseSharingMinThreadSamples = 5;
// ...and the line is a finding when the participating threads spent at least this
// share of their samples on it: below 10% padding the line would not move the
// program's throughput measurably. s03 bad spends ~95% there, s03 fixed 0% (one
// thread per line).
inline constexpr double kFalseSharingMinSampleShare = 0.10;
// A hot atomic: one word, locked read-modify-writes from at least this many
// threads...
inline constexpr int kHotAtomicMinThreads = 2;
// ...each with at least this many locked accesses to the word sampled (as
// kFalseSharingMinThreadSamples for a line): fewer is an occasional touch, not a
// thread that contends. s11 fixed raised cas-retry-storm on a thread's own stack head
// in a CI run: its worker's 381 sampled CAS and the main thread's one, from filling
// the stacks before the workers started.
inline constexpr uint64_t kHotAtomicMinThreadSamples = 5;
// ...taking at least this share of those threads' samples (s12 bad: nearly all;
// a counter bumped once per request of real work: well under 10%).
inline constexpr double kHotAtomicMinSampleShare = 0.10;
// A CAS retry storm is a hot word (the same kHotAtomicMinThreads and
// kHotAtomicMinSampleShare: what the word costs decides whether it is a finding) on
// which compare-exchanges are at least this share of the locked accesses; otherwise it
// is a fetch_add counter: hot-atomic. (A separate, higher sample share for CAS words,
// 20%, named s11 bad a hot counter at 19% on a loaded machine although all 226 of its
// locked accesses were CAS: the instruction mix, not the cost, tells the two apart.)
inline constexpr double kCasStormMinCasShare = 0.5;
// A sampled address within this distance above the sampled stack pointer (or the
// 128-byte red zone below it) is the thread's own stack: never shared, never shown.
inline constexpr uint64_t kStackWindowBytes = 64 * 1024;
// A contended lock's critical sections need at least this many sampled non-stack
// accesses to writable memory before we say what they do.
inline constexpr uint64_t kLockAccessMinSamples = 5;
// read-mostly-lock: at least this share of those accesses are reads (the rare
// writer's stores, e.g. s02's reload every 100 ms, stay below 5%).
inline constexpr double kReadMostlyMinReadShare = 0.95;
// ...and at least this many sampled accesses: "only reads" from 5 samples is chance
// (a queue's critical section that writes once per batch can show 5 reads in a row).
inline constexpr uint64_t kReadMostlyMinSamples = 20;
// lock-for-single-word: every store goes to one word, and that word takes at least
// this share of the critical sections' accesses (the rest: reads of other data).
inline constexpr double kSingleWordMinShare = 0.5;
// Without enough samples, the critical section's code decides (static decode from the
// lock call to the unlock call): a single word, touched by at most this many
// instructions (load + store, or one RMW per site: ++x is one `add [rip+x], 1`).
inline constexpr size_t kStaticCriticalSectionMaxAccesses = 4;
// A lock library's yields outside a probed slow path (tbb::mutex's) go to the one lock
// its acquisition code's sampled wait stacks and accesses named, when at least this many
// named it and none another (lock_yields.h). With n samples all on one word, the 95% upper
// bound of another lock's share of that code's spinning is 3/n (rule of three): at 20,
// at most 15% of the yields charged could be another lock's (as kReadMostlyMinSamples).
inline constexpr uint64_t kYieldSiteMinSamples = 20;


// ---- queues and handoffs (futex + lockrate collectors) ----------------------------
namespace queues {
// per-item-synchronization: a queue's mutex taken at least this often per second, as
// counted by the lockrate uprobe windows. The count is a lower bound: every call traps
// into the uprobe (~1-3 µs here), which slows the target while the window is open.
// It is a gate, not the judge: the share of the threads' samples in lock code and the
// cost share below decide. It was 20,000/s; on a new 2-CPU VM (2026-12-03) s07 bad read
// 15,000-27,000/s from its ~20 ms of windows (the uprobe's trap slows the very calls it
// counts) and missed in 1 of 5 runs with 59% of its samples in lock code. At 10,000/s the
// round trips (~50-100 ns each when the line bounces between cores, more with the futex
// calls of a contended queue) still cost a percent of a core, and the fixed s07 (256
// items per acquisition) stays near 2,000/s.
inline constexpr double kPerItemMinAcquisitionsPerS = 10000;
// ...from at least this many call sites (a producer side and a consumer side).
inline constexpr int kPerItemMinSites = 2;
// ...and, where the memory sampler ran, the threads taking it spend at least this
// share of their CPU samples in lock/condvar code: s07 bad ~55%, s07 fixed ~2% (one
// acquisition per 256 items). Without samples the rate alone decides.
inline constexpr double kPerItemMinSyncShare = 0.20;
// ...and, where it ran, the CPU those threads spent in lock code (that share of their CPU
// time, not of their lives) is at least this share of the profile's thread time (the same
// floor as lock contention's, kLockContentionMinShare): the healthy bursty-queue twin,
// whose producer sleeps between bursts, raised it once in CI at its lifetime's cost.
inline constexpr double kPerItemMinCostShare = 0.05;
// A thread counts as a waiter of a condition variable when it has at least this share
// of the variable's wait time (glibc signalers wait briefly on internal words).
inline constexpr double kCondvarWaiterMinShare = 0.05;
// handoff-stall: each item costs a producer wait and a consumer wake. A wake/wait pair
// costs ~10 µs here (two futex syscalls and two context switches), so this many pairs
// per second spend >= 5% of a core on the handoff alone; the fixed s14 (buffer of
// 2 x workers) and s07 (batched) stay near 1,000-2,000/s.
inline constexpr double kHandoffMinPairsPerS = 5000;
// ...and the producer blocks about once per consumer wake-up: a buffer would let it
// run ahead, so a ratio far below 1 means there is one. Not decisive alone: s14 fixed
// read 0.71 on one VM, where its waits per item (below, 0.01) ruled it out.
inline constexpr double kHandoffMinPairRatio = 0.5;
inline constexpr double kHandoffMaxPairRatio = 2.0;
// Where the lockrate windows give the producer's items (its lock calls), it must have
// blocked on at least this share of them: a rendezvous blocks on every item (s14 bad:
// ~1.0); with a buffer the producer blocks only when it is full.
inline constexpr double kHandoffMinWaitsPerItem = 0.8;
// Producer waits over which a hand-off stall is "high" confidence (a long, steady pattern).
inline constexpr uint64_t kHandoffHighConfidenceWaits = 1000;
}  // namespace queues

// ---- the CPython GIL ---------------------------------------------------------------
namespace gil {
// Threads waiting for the interpreter lock this share of their time: CPU-bound Python
// threads on 2+ cores wait 50-80%; I/O-bound ones that release the GIL wait far less.
inline constexpr double kMinWaitShare = 0.10;
inline constexpr int kMinWaiters = 2;
}  // namespace gil

// ---- scale (`ccprof scale`: profiler/scale_rules.cc) --------------------------------

// Thread counts `ccprof scale` needs: λ, α and β are three unknowns, so fewer thread
// counts leave α and β undetermined (usl_fit then reports no fit).
inline constexpr int kScaleMinThreadCounts = 3;
// Without --metric, throughput is 1 / wall time. When the median wall time of every
// thread count is within this fraction of the others, the command runs for a fixed
// time (a benchmark with --seconds, a server with a timeout): 1 / time is flat and says
// nothing about scaling. 5%: runs of one fixed-time command differ by less on a quiet
// machine, while real work that scales changes wall time by far more between 1 and N.
inline constexpr double kScaleFixedTimeMaxSpread = 0.05;
// retrograde-scaling: the median throughput at the largest N measured is at least this
// share below the best median measured. Run-to-run noise of a whole-program run on this
// shared 2-core machine is ~10% (s06 fixed: 11.5-12.6 M ops/s across N); s06 bad falls
// ~60% from its peak by 16 threads. A 20% loss is also where capping is worth a change.
inline constexpr double kRetrogradeMinDrop = 0.2;
// ...and the fitted peak N* (best whole N) lies inside the measured range, below the
// largest N: a fit whose peak is past the last point predicts decline, it did not see it.
// ...and the USL describes the points at least this well (R²): below ~0.6 the curve is
// not the shape of the data (a noise spike, a bimodal run), so its peak is no advice.
inline constexpr double kRetrogradeMinR2 = 0.6;
// Confidence "high" when the fit explains at least this share of the variance and at
// least this many thread counts were measured (else "medium").
inline constexpr double kRetrogradeHighConfidenceR2 = 0.9;
inline constexpr int kRetrogradeHighConfidencePoints = 5;

// ---- ccprof diff (report/diff.cc) ----------------------------------------------------

// Two profiles of the same program differ by noise: a matched finding is "unchanged"
// unless its cost share moved by more than this fraction of itself AND by more than
// kDiffNoiseAbsoluteShare of the profile. Contention varies run to run with scheduling:
// five 2 s runs of s01 bad on a busy 2-CPU VM cost 26%, 30%, 30%, 34% and 37% of thread
// time (up to ~20% of the share apart), so a smaller band would call noise a
// regression; a real fix or regression moves the share by far more (s01 bad -> fixed:
// ~30% -> no finding).
inline constexpr double kDiffNoiseRelative = 0.25;
inline constexpr double kDiffNoiseAbsoluteShare = 0.02;

// Stacks unwound per finding at most: unwinding is the expensive part of the analysis,
// and a few hundred stacks name the sites as well as thousands.
inline constexpr size_t kMaxStacksPerFinding = 256;
// lock-held-across-io replaces lock-contention on the same lock when the owner's
// blocking syscalls explain at least this share of the waits (else both are shown).
inline constexpr double kIoExplainsLockShare = 0.5;

// ---- predicted gain of a finding (profiler/predicted_gain.cc) ---------------------

// Futex wait totals from BPF matched the workloads' own timing within ~7% (DESIGN.md,
// "Facts verified"): a wait share s is known to s/(1+e) .. s*(1+e), and the range's
// ends are the gains of those two shares.
inline constexpr double kGainWaitShareError = 0.07;
// 1/(1-s) grows without bound as a share s nears 1, but the fixed program still does
// the work around the removed wait or access (the loop, the call, its own store): a
// share above this is read as this, so no range ends beyond 20x on one timed share (a
// wait share, a lock's CPU share). Sample shares are read to one sample instead
// (predicted_gain.cc, sample_share): a loop that is one hot atomic exceeds 20x.
inline constexpr double kGainMaxShare = 0.95;
// A sample share from fewer samples than this has a standard error above 5 points
// (sqrt(0.25/100)); below it the sample-share models make no prediction.
inline constexpr uint64_t kGainMinSamples = 100;
// A mutex-protected update costs glibc's lock (a locked cmpxchg) and unlock (a locked
// xchg) on the lock word; the atomic that replaces it is one locked RMW: at most this
// factor of the synchronising work per update goes (lock-for-single-word's high end).
inline constexpr double kGainLockedRmwsPerLockedUpdate = 2.0;
// ...and a wait share from fewer waits than this is a handful of events, not a rate.
inline constexpr uint64_t kGainMinWaits = 20;
// A count of n timer samples is known to n +- this many sqrt(n) (Poisson, ~95%): the
// lock's CPU cost (profiler/lock_cpu_cost.h) reads its kernel and user time from counts,
// and each end of the range takes the side of the error that makes it cautious.
inline constexpr double kGainSampleSigmas = 2.0;

// ---- report sizes (what the tables keep; no diagnosis depends on them) -----------
// A timeline of more waits than this is thinned evenly: the page stays responsive.
inline constexpr size_t kTimelineMaxWaits = 20000;
// The hottest cache lines shown in the cache-line table.
inline constexpr size_t kReportMaxCacheLines = 20;
// Distinct Python stacks of memory samples in tables.memory.python (the hottest; the rest are
// summed in its stacks_left_out): one a line of the Python flame graph.
inline constexpr size_t kReportMaxPythonStacks = 200;
// Points per process in the RSS chart.
inline constexpr size_t kRssMaxPoints = 600;

}  // namespace ccprof::profiler::thresholds
