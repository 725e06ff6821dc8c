#include "agent/stack_reduction.h"

#include <time.h>

#include <algorithm>
#include <utility>

#include "agent/proc.h"
#include "spdlog/spdlog.h"

namespace ccprof::agent {
namespace {

// The bytes of `windows` inside the ranges, as one window per merged range.
std::vector<model::StackWindow> keep_ranges(const std::vector<model::StackWindow>& windows,
                                            std::vector<std::pair<uint64_t, uint32_t>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;  // [lo, hi)
  for (const auto& [addr, size] : ranges) {
    if (!merged.empty() && addr <= merged.back().second)
      merged.back().second = std::max(merged.back().second, addr + size);
    else
      merged.emplace_back(addr, addr + size);
  }
  std::vector<model::StackWindow> out;
  for (const auto& [lo, hi] : merged)
    for (const auto& w : windows) {
      const uint64_t a = std::max(lo, w.addr), b = std::min(hi, w.addr + w.bytes.size());
      if (a >= b) continue;
      out.push_back({a, {w.bytes.begin() + (a - w.addr), w.bytes.begin() + (b - w.addr)}});
    }
  return out;
}

}  // namespace

StackReduction::StackReduction(std::shared_ptr<model::TargetMemoryReducer> reducer, bool keep_stack_bytes)
    : reducer_(std::move(reducer)), keep_bytes_(keep_stack_bytes) {}

void StackReduction::reduce_stack(model::Recording& rec, size_t i, bool final, std::vector<size_t>& later) {
  model::StackCopy& s = rec.stacks[i];
  model::StackFrames frames;
  if (!reducer_->unwind(rec, s, &frames) && !final) {
    later.push_back(i);
    return;
  }
  ++stacks_unwound_;
  s.frames = table_.intern(rec, std::move(frames));
  if (keep_bytes_) return;
  s.stack = {};
  s.regs = {};
}

void StackReduction::reduce_sample(model::Recording& rec, size_t i, bool final, std::vector<size_t>& later) {
  model::MemorySample& m = rec.memory_samples[i];
  if (m.stack_windows.empty() || keep_bytes_) return;
  std::vector<std::pair<uint64_t, uint32_t>> reads;
  model::SampleDecode decoded;
  if (reducer_->stack_reads(rec, m, &reads, &decoded)) {
    m.decoded = decoded;
  } else {
    if (!final) {
      later.push_back(i);
      return;
    }
    // Its process's code never appeared in the recorded maps: the decoder could not
    // have used the windows either.
    rec.losses["sampler.stack_window_unresolved"]++;
    reads.clear();
  }
  m.stack_windows = keep_ranges(m.stack_windows, std::move(reads));
}

size_t StackReduction::maps_generation(const model::Recording& rec) {
  // FNV-1a, per process (cheap at every drain): between execs the snapshots only add maps
  // (they keep the union), so their count moves; an exec replaces them, and moves the
  // executable or, under ASLR, where the first mapping starts.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (const auto& p : rec.processes) {
    mix(p.pid);
    mix(std::hash<std::string>{}(p.exe));
    mix(p.maps.size());
    mix(p.maps.empty() ? 0 : p.maps.front().start);
  }
  return static_cast<size_t>(h);
}

void StackReduction::reduce(model::Recording& rec, bool final, uint64_t until_ns) {
  if (!reducer_) return;
  const double t0 = thread_cpu_s();
  // What waits for its code's maps is retried only when new maps were recorded, and
  // never piles up: past kMaxPending it is reduced with what is known (raw target
  // memory must not accumulate in the agent for the length of the profile).
  constexpr size_t kMaxPending = 4096;
  const size_t generation = maps_generation(rec);
  const bool retry = final || generation != pending_generation_;
  pending_generation_ = generation;
  std::vector<size_t> later;
  auto out_of_time = [&] { return !final && until_ns && monotonic_ns() >= until_ns; };
  auto settle = [&](std::vector<size_t>& pending, auto&& reduce_one) {
    if (!retry && pending.size() <= kMaxPending) {
      later = std::move(pending);
      return;
    }
    const bool now = final || pending.size() > kMaxPending;
    for (size_t i : std::exchange(pending, {})) reduce_one(i, now);
  };
  settle(pending_stacks_, [&](size_t i, bool now) { reduce_stack(rec, i, now, later); });
  for (; next_stack_ < rec.stacks.size() && !out_of_time(); ++next_stack_) reduce_stack(rec, next_stack_, final, later);
  pending_stacks_ = std::move(later);
  later.clear();
  const double t1 = thread_cpu_s();
  unwind_cpu_s_ += t1 - t0;
  const size_t samples_before = next_sample_, pending_before = pending_samples_.size();
  settle(pending_samples_, [&](size_t i, bool now) { reduce_sample(rec, i, now, later); });
  for (; next_sample_ < rec.memory_samples.size() && !out_of_time(); ++next_sample_)
    reduce_sample(rec, next_sample_, final, later);
  pending_samples_ = std::move(later);
  // Only calls that had samples to work on: the memory sampler's CPU budget counts what
  // samples cost, not the agent's wake-ups (agent/sampler_budget.h).
  if (next_sample_ != samples_before || pending_before) sample_cpu_s_ += thread_cpu_s() - t1;
  if (final)
    spdlog::debug("stacks: {} copies unwound into {} distinct stacks in {:.3f} s of CPU ({:.1f} us per copy); "
                  "memory samples' stack windows trimmed in {:.3f} s of CPU",
                  stacks_unwound_, rec.stack_frames.size(), unwind_cpu_s_,
                  stacks_unwound_ ? unwind_cpu_s_ * 1e6 / stacks_unwound_ : 0.0, sample_cpu_s_);
}

}  // namespace ccprof::agent
