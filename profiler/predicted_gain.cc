#include "profiler/predicted_gain.h"

#include "absl/strings/str_format.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {

namespace th = thresholds;
using nlohmann::json;

namespace {

PredictedGain no_prediction(std::string model, std::string reason, json inputs = json::object()) {
  PredictedGain g;
  g.model = std::move(model);
  g.reason = std::move(reason);
  g.inputs = std::move(inputs);
  return g;
}

PredictedGain range(std::string model, double low, double high, json inputs) {
  PredictedGain g;
  g.predicted = true;
  g.model = std::move(model);
  g.low = std::max(1.0, low);
  g.high = std::max(g.low, high);
  g.inputs = std::move(inputs);
  return g;
}

// The gain of removing a share s of the time: what was 1 - s of the time becomes all of it.
double gain_of_share(double s) { return 1.0 / (1.0 - std::clamp(s, 0.0, th::kGainMaxShare)); }

// The object at `key`, or an empty one when absent or not an object (evidence is data,
// and json::value() would throw on a non-object).
const json& object(const json& j, std::string_view key) {
  static const json empty = json::object();
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

// A non-negative finite number of the evidence, or -1 when absent, negative or not a
// number (no input of a model is negative).
double number(const json& j, std::string_view key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return -1.0;
  double v = it->get<double>();
  return std::isfinite(v) && v >= 0 ? v : -1.0;
}

size_t count(const json& j, std::string_view key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_array()) return it->size();
  return it->is_number_unsigned() ? it->get<size_t>() : 0;
}

// The lock kinds: the waiters' wait share s becomes progress when the lock stops
// serialising them. Low end: the smallest share the futex timing allows (s/(1+e)); for
// CPU-bound threads, N waiters on C < N CPUs overlap another thread's work with part of
// each wait, so only C/N of the freed time is new CPU. High end: the largest share
// (s*(1+e)), and no more than the waiters' count (or the CPUs, `cap`).
// `removed_share`: the share the remedy removes at most when more than the waits
// (batching: all synchronisation). `cap_at_cpus`: the fix runs the threads in parallel
// on the CPUs and no further, and the high end is that (multiprocessing instead of the GIL).
PredictedGain wait_removal(const Finding& f, const GainContext& ctx, bool cpu_bound, const char* model,
                           double removed_share = -1, bool cap_at_cpus = false) {
  const json& lock = object(f.evidence, "lock");
  double s = number(lock, "wait_share");
  size_t waiters = count(lock, "waiters");
  // A lock library's sched_yield() calls while it spins (lock_yields.h) are timed waits
  // too: a lock that never slept (tbb::spin_mutex) has only those; a program's own spin
  // lock (spin_locks.h) has only its samples spinning, each one sampling period.
  uint64_t waits = static_cast<uint64_t>(std::max(0.0, number(lock, "waits"))) +
                   static_cast<uint64_t>(std::max(0.0, number(lock, "yields"))) +
                   static_cast<uint64_t>(std::max(0.0, number(lock, "spin_samples")));
  json in = {{"wait_share", s}, {"waiters", waiters}, {"waits", waits}, {"cpus", ctx.cpus},
             {"wait_share_error", th::kGainWaitShareError}};
  const json& hold = object(f.evidence, "hold").empty() ? object(lock, "hold") : object(f.evidence, "hold");
  if (number(hold, "share_held") >= 0) in["hold_share"] = number(hold, "share_held");
  if (s < 0 || waiters == 0) return no_prediction(model, "the finding carries no measured wait share", in);
  if (waits < th::kGainMinWaits)
    return no_prediction(model, absl::StrFormat("only %d waits: too few to read a share of time from", waits), in);
  if (cpu_bound && ctx.cpus == 0) return no_prediction(model, "the CPU count was not recorded", in);
  double overlap = cpu_bound ? std::min(1.0, static_cast<double>(ctx.cpus) / waiters) : 1.0;
  double low = gain_of_share(s / (1 + th::kGainWaitShareError) * overlap);
  double high = gain_of_share(std::max(s, removed_share) * (1 + th::kGainWaitShareError));
  if (removed_share >= 0) in["removed_share"] = removed_share;
  // Removing a lock's serialisation gives at most its waiters' count; removing
  // synchronisation work itself (batching) is bounded by its share alone.
  double cap = removed_share >= 0 ? gain_of_share(1.0) : static_cast<double>(waiters);
  if (cap_at_cpus) cap = std::min(cap, static_cast<double>(ctx.cpus));
  // The handover (evidence.lock.handover_s, profiler/lock_table.h): after each contended
  // release the lock is free but not yet held while the releaser's FUTEX_WAKE reaches the
  // woken waiter and it runs; a share g of the time the lock serialises nothing, so the
  // serialised work is 1 - g of it and the fix gives up to waiters / (1 - g). Only where
  // the waits are off-CPU sleeps (the I/O model): in the CPU-bound models the handover's
  // kernel part is the futex CPU already counted on top, beyond the cap.
  if (!cpu_bound && removed_share < 0 && !cap_at_cpus) {
    double handover_s = number(lock, "handover_s"), total_wait_s = number(lock, "total_wait_s");
    double handovers = number(lock, "handovers");
    if (handover_s >= 0 && handovers > 0 && total_wait_s > 0 && s > 0) {
      double span_s = total_wait_s / s / static_cast<double>(waiters);  // the waiters' mean time in the profile
      double g = handover_s / span_s;
      in["handovers"] = handovers;
      in["handover_mean_s"] = handover_s / handovers;
      in["handover_share"] = g;
      cap /= 1.0 - std::min(g * (1 + th::kGainWaitShareError), th::kGainMaxShare);
    }
  }
  in["cap"] = cap;
  // One GIL runs the Python of every thread on one CPU at a time whatever the wait share
  // shows, so separate interpreters reach the cap (each on its own CPU) at most.
  if (cap_at_cpus) return range(model, std::min(low, cap), cap, in);
  low = std::min(low, cap);
  high = std::min(high, cap);
  // The contended path's CPU (evidence.lock_cpu_cost, profiler/lock_cpu_cost.h): a share
  // c of the waiters' time on CPU went to futex syscalls, the context switches inside
  // them and the lock library's own code. Without the contention that CPU does the
  // program's work: x1/(1-c) for the same CPU, on top of what the waits give back (not
  // bounded by the waiter count: it is not serialisation). Low end: the kernel share no
  // other syscall explains (an uncontended replacement, a reader lock or an atomic, still
  // runs its user-mode RMWs); high end: the kernel share's high estimate and the lock
  // library's user time, unless `removed_share` (sync_share: the lock code's samples)
  // already counts that user time. The ends combine differently: the waits' time becomes
  // CPU only where CPUs are free (not when the program's or other programs' threads keep
  // them busy, and then only the CPU share comes back), so the low end is the larger of
  // the two gains, and the high end, where both come back, their product.
  const json& cost = object(f.evidence, "lock_cpu_cost");
  double k_low = number(cost, "kernel_share_low"), k_high = number(cost, "kernel_share_high");
  double u_high = number(cost, "user_share_high");
  if (k_low >= 0 && k_high >= 0 && u_high >= 0) {
    double c_low = k_low, c_high = std::min(1.0, k_high + (removed_share >= 0 ? 0.0 : u_high));
    in["lock_cpu_cost"] = cost;
    in["lock_cpu_share_low"] = c_low;
    in["lock_cpu_share_high"] = c_high;
    low = std::max(low, gain_of_share(c_low));
    high *= gain_of_share(c_high);
  }
  return range(model, low, high, in);
}

// Cache-line kinds: the line's (word's) share s of the involved threads' samples is
// time on those accesses; padding or sharding makes them private hits. How much of that
// time is coherence traffic is only measured with HITM (PMU mode): with it the low end
// removes s * hitm/samples; without it the low end is no gain (decode mode cannot tell a
// slow shared store from a plain one). The high end removes all of s.
PredictedGain sample_share(const Finding& f, double s, uint64_t samples) {
  const json& line = object(f.evidence, "cache_line");
  double hitm = std::max(0.0, number(line, "hitm"));
  json in = {{"sample_share", s}, {"samples", samples}, {"hitm", hitm}};
  if (s < 0) return no_prediction("sample-share", "the finding carries no sample share", in);
  if (samples < th::kGainMinSamples)
    return no_prediction("sample-share",
                         absl::StrFormat("only %d samples on the line: the share's error is over 5 points", samples), in);
  double low = hitm > 0 && samples > 0 ? gain_of_share(s * std::min(1.0, hitm / samples)) : 1.0;
  if (hitm <= 0) in["low_end"] = "no HITM data: the coherence share of that time is not measured";
  // The high end removes all of s. What is left, 1 - s, is read to one sample of the
  // `samples`: a share at or near 1 (one locked RMW was nearly the whole loop) gives at
  // most `samples` x, the profile's resolution, rather than kGainMaxShare's 20x, which a
  // loop that is one hot atomic exceeds (s12: x29 measured on an idle 2-CPU machine).
  double left = std::max(1.0 - std::min(s, 1.0), 1.0 / static_cast<double>(samples));
  in["high_end"] = "the share's remainder, read to one sample";
  return range("sample-share", low, 1.0 / left, in);
}

// pool-saturated-io: Little's law. A pool of the suggested size S instead of W workers
// serves up to S/W times the tasks, until the CPUs reach the target utilisation
// (target/measured utilisation). The demand beyond the saturated pool's capacity is
// not observed, so the low end is no gain.
PredictedGain littles_law(const Finding& f) {
  const json& e = f.evidence;
  double workers = number(e, "workers"), suggested = number(e, "suggested_pool_size");
  double util = number(e, "cpu_utilization"), target = number(e, "target_utilization");
  json in = {{"workers", workers}, {"suggested_pool_size", suggested}, {"cpu_utilization", util},
             {"target_utilization", target}, {"busy_share", number(e, "busy_share")},
             {"low_end", "the offered load beyond the saturated pool's capacity is not observed"}};
  if (workers <= 0 || suggested <= 0 || util <= 0 || target <= 0)
    return no_prediction("littles-law", "the finding lacks the pool's size or CPU utilisation", in);
  return range("littles-law", 1.0, std::min(suggested / workers, target / util), in);
}

// retrograde-scaling: the USL fit. Capping concurrency at the peak gives the peak's
// throughput (the lower of the fitted and the measured peak); removing the contention
// that bends the curve gives at most lambda per CPU on min(N, C) CPUs (or the measured
// peak when higher). Both over the throughput at the largest N.
PredictedGain usl(const Finding& f, const GainContext& ctx) {
  const json& e = f.evidence;
  double at_largest = number(e, "throughput_at_largest"), lambda = number(e, "lambda");
  double peak_fit = number(e, "peak_throughput"), peak_measured = number(e, "measured_peak_throughput");
  double largest = number(e, "largest_threads"), r2 = number(e, "r2");
  json in = {{"throughput_at_largest", at_largest}, {"peak_throughput", peak_fit},
             {"measured_peak_throughput", peak_measured}, {"lambda", lambda}, {"largest_threads", largest},
             {"r2", r2}, {"cpus", ctx.cpus}};
  if (at_largest <= 0 || peak_fit <= 0 || peak_measured <= 0 || lambda <= 0 || largest <= 0)
    return no_prediction("usl", "the fit has no peak or no throughput at the largest thread count", in);
  if (ctx.cpus == 0) return no_prediction("usl", "the CPU count was not recorded", in);
  double linear = lambda * std::min(largest, static_cast<double>(ctx.cpus));
  return range("usl", std::min(peak_fit, peak_measured) / at_largest, std::max(peak_measured, linear) / at_largest,
               in);
}

// handoff-stall: a buffer lets the producer run ahead, so its blocked share p becomes
// production (wait-removal on the producer, overlapped with the workers on the CPUs),
// up to what the workers can absorb: their idle share w gives at most 1/(1-w).
PredictedGain handoff(const Finding& f, const GainContext& ctx) {
  const json& e = f.evidence;
  double producers = number(e, "producer_threads"), workers = number(e, "workers");
  double producer_wait = number(e, "producer_wait_s"), consumer_wait = number(e, "consumer_wait_s");
  json in = {{"producer_threads", producers}, {"workers", workers}, {"producer_wait_s", producer_wait},
             {"consumer_wait_s", consumer_wait}, {"duration_s", ctx.duration_s}, {"cpus", ctx.cpus},
             {"wait_share_error", th::kGainWaitShareError}};
  if (producers <= 0 || workers <= 0 || producer_wait < 0 || consumer_wait < 0 || ctx.duration_s <= 0 || ctx.cpus == 0)
    return no_prediction("handoff-buffer", "the finding lacks the producer's or workers' wait times", in);
  double p = producer_wait / (producers * ctx.duration_s), w = consumer_wait / (workers * ctx.duration_s);
  in["producer_blocked_share"] = p;
  in["worker_idle_share"] = w;
  double overlap = std::min(1.0, ctx.cpus / (producers + workers));
  double low = gain_of_share(p / (1 + th::kGainWaitShareError) * overlap);
  double absorb = gain_of_share(w);
  return range("handoff-buffer", std::min(low, absorb), std::min(gain_of_share(p * (1 + th::kGainWaitShareError)), absorb),
               in);
}

// thread-churn: a pool removes at least the creation overhead and start delay, the
// finding's cost share of thread time (timed by the same BPF clock as the futex waits).
// At most, the tasks run back to back on every CPU: C CPUs / (tasks per second x each
// task's median CPU time), when that is above the low end.
PredictedGain spawn_overhead(const Finding& f, const GainContext& ctx) {
  double s = f.cost_share;
  double rate = number(f.evidence, "creations_per_s"), on_cpu = number(f.evidence, "median_on_cpu_s");
  json in = {{"overhead_share", s}, {"creation_overhead_s", number(f.evidence, "creation_overhead_s")},
             {"start_delay_s", number(f.evidence, "start_delay_s")}, {"creations_per_s", rate},
             {"median_on_cpu_s", on_cpu}, {"cpus", ctx.cpus}, {"wait_share_error", th::kGainWaitShareError}};
  if (s <= 0) return no_prediction("spawn-overhead", "no creation overhead was measured", in);
  double high = gain_of_share(s * (1 + th::kGainWaitShareError));
  if (rate > 0 && on_cpu > 0 && ctx.cpus > 0) high = std::max(high, ctx.cpus / (rate * on_cpu));
  return range("spawn-overhead", gain_of_share(s / (1 + th::kGainWaitShareError)), high, in);
}

}  // namespace

PredictedGain predict_gain(const Finding& f, const GainContext& ctx) {
  const std::string& k = f.kind;
  if (k == "lock-contention" || k == "read-mostly-lock") return wait_removal(f, ctx, true, "wait-removal");
  if (k == "lock-for-single-word") {
    // The atomic also replaces the uncontended lock + unlock (two locked read-modify-
    // writes on the lock word) by one on the counter: at most half the synchronising
    // work of each update is left, on top of the waits.
    PredictedGain g = wait_removal(f, ctx, true, "wait-removal-atomic");
    if (g.predicted) g.high *= th::kGainLockedRmwsPerLockedUpdate;
    g.inputs["locked_rmws_per_locked_update"] = th::kGainLockedRmwsPerLockedUpdate;
    return g;
  }
  if (k == "lock-held-across-io") return wait_removal(f, ctx, false, "wait-removal-io");
  if (k == "gil-contention") return wait_removal(f, ctx, true, "wait-removal-cpu-limited", -1, true);
  if (k == "per-item-synchronization") {
    // Batching removes the lock and condvar code (sync_share) and, at most, the time on
    // the lines each item moves between the threads' CPUs outside it (shared_line_share:
    // the queue's ends, the items; profiler/queue_rules.h).
    double sync = std::max(0.0, number(f.evidence, "sync_share"));
    double moved = number(f.evidence, "shared_line_share");
    PredictedGain g = wait_removal(f, ctx, true, "sync-removal", std::min(1.0, sync + std::max(0.0, moved)));
    g.inputs["sync_share"] = sync;
    if (moved >= 0) g.inputs["shared_line_share"] = moved;
    return g;
  }
  if (k == "false-sharing") {
    const json& line = object(f.evidence, "cache_line");
    return sample_share(f, number(f.evidence, "line_sample_share"),
                        static_cast<uint64_t>(std::max(0.0, number(line, "samples"))));
  }
  if (k == "hot-atomic" || k == "cas-retry-storm") {
    const json& word = object(f.evidence, "word");
    PredictedGain g =
        sample_share(f, number(word, "share"), static_cast<uint64_t>(std::max(0.0, number(word, "samples"))));
    // A failed CAS repeats its whole loop, not only the CAS the word's samples count:
    // per-thread structures remove the retries, so the high end may remove the time in
    // the loop's functions (evidence.word.loop_share, profiler/cas_loop_share.h), read
    // to one sample like the word's share.
    // Outside the loop, the time on lines the threads pass between them (the nodes the
    // stack hands from thread to thread: evidence.word.shared_line_share) goes too.
    double loop = number(word, "loop_share");
    if (k == "cas-retry-storm" && g.predicted && loop >= 0) {
      double samples = std::max(1.0, number(word, "samples"));
      g.inputs["loop_share"] = loop;
      if (double moved = number(word, "shared_line_share"); moved >= 0) {
        g.inputs["shared_line_share"] = moved;
        loop += moved;
      }
      g.high = std::max(g.high, 1.0 / std::max(1.0 - std::min(loop, 1.0), 1.0 / samples));
    }
    return g;
  }
  if (k == "pool-saturated-io") return littles_law(f);
  if (k == "retrograde-scaling") return usl(f, ctx);
  if (k == "handoff-stall") return handoff(f, ctx);
  if (k == "thread-churn") return spawn_overhead(f, ctx);
  if (k == "unbounded-queue")
    return no_prediction("none", "bounding the queue bounds memory; the profile measures no throughput the fix returns");
  if (k == "lock-order-inversion")
    return no_prediction("none", "a potential deadlock, not a measured loss of throughput");
  return no_prediction("none", "no gain model for this kind");
}

std::string predicted_gain_text(const PredictedGain& g) {
  if (!g.predicted) return "No predicted gain: " + g.reason + ".";
  return absl::StrFormat("Predicted gain if fixed: throughput x%.2g-%.2g (model %s).", g.low, g.high, g.model);
}

json predicted_gain_json(const PredictedGain& g) {
  if (!g.predicted) return {{"low", nullptr}, {"high", nullptr}, {"model", g.model}, {"inputs", g.inputs},
                            {"reason", g.reason}};
  return {{"low", g.low}, {"high", g.high}, {"model", g.model}, {"inputs", g.inputs}};
}

void predict_gains(std::vector<Finding>& findings, const GainContext& ctx) {
  for (auto& f : findings) {
    f.predicted_gain = predict_gain(f, ctx);
    f.explanation += (f.explanation.empty() ? "" : " ") + predicted_gain_text(f.predicted_gain);
  }
  // Gain order: the geometric middle of the range, largest first; findings without a
  // prediction after them, in cost order (findings arrive ranked by cost).
  std::vector<Finding*> order;
  for (auto& f : findings) order.push_back(&f);
  auto middle = [](const Finding* f) {
    return f->predicted_gain.predicted ? std::sqrt(f->predicted_gain.low * f->predicted_gain.high) : 0.0;
  };
  std::stable_sort(order.begin(), order.end(), [&](const Finding* a, const Finding* b) { return middle(a) > middle(b); });
  for (size_t i = 0; i < order.size(); ++i) order[i]->gain_rank = static_cast<int>(i + 1);
}

}  // namespace ccprof::profiler
