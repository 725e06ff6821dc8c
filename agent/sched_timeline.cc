#include "agent/sched_timeline.h"

#include <unistd.h>

#include <algorithm>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "bpf/sched_events.h"
#include "sched.skel.h"

namespace ccprof::agent {
namespace {

model::ThreadRun run_from_event(const sched_run_event& e) {
  return {.pid = e.tgid,
          .tid = e.tid,
          .ready_ns = e.ready_ns,
          .on_ns = e.on_ns,
          .off_ns = e.off_ns,
          .seq = e.seq,
          .coalesced = e.coalesced,
          .coalesced_ns = e.coalesced_ns,
          .cpu = e.cpu,
          .flags = e.flags};
}

// The kernel's order of the three instants; a record that breaks it (a clock read on
// another CPU a few ns apart) is clamped, never dropped.
void make_ordered(model::ThreadRun& r) {
  if (r.ready_ns > r.on_ns) r.ready_ns = r.on_ns;
  if (r.off_ns < r.on_ns) r.off_ns = r.on_ns;
  if (r.coalesced_ns > r.off_ns - r.on_ns) r.coalesced_ns = static_cast<uint32_t>(r.off_ns - r.on_ns);
}

}  // namespace

// The budget is spent per CPU (a per-CPU counter in the program): each gets its share of
// the total, at least one run per window.
static uint64_t per_cpu(uint64_t runs_per_s) {
  if (!runs_per_s) return 0;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return std::max<uint64_t>(10, runs_per_s / static_cast<uint64_t>(cpus > 0 ? cpus : 1));
}

void SchedTimeline::configure(sched_bpf* skel, const SchedTimelineOptions& opts) {
  skel->rodata->run_coalesce_ns = opts.coalesce_ns;
  skel->rodata->run_window_ns = opts.window_ns;
  skel->rodata->runs_per_window = static_cast<uint32_t>(per_cpu(opts.runs_per_s) * opts.window_ns / 1'000'000'000ull);
}

absl::Status SchedTimeline::open(sched_bpf* skel, const SchedTimelineOptions& opts) {
  if (!opts.runs_per_s) return absl::OkStatus();  // off: no section in the recording
  skel_ = skel;
  section_.runs_per_s = per_cpu(opts.runs_per_s);
  section_.window_ns = opts.window_ns;
  section_.coalesce_ns = opts.coalesce_ns;
  ring_.reset(ring_buffer__new(bpf_map__fd(skel->maps.runs), on_run, this, nullptr));
  if (!ring_) return absl::InternalError(absl::StrCat("sched collector: cannot map the runs ring buffer: ", strerror(errno)));
  return absl::OkStatus();
}

int SchedTimeline::on_run(void* ctx, void* data, size_t size) {
  if (size < sizeof(sched_run_event)) return 0;
  sched_run_event e;
  memcpy(&e, data, sizeof e);
  model::ThreadRun r = run_from_event(e);
  make_ordered(r);
  static_cast<SchedTimeline*>(ctx)->section_.runs.push_back(r);
  return 0;
}

void SchedTimeline::drain() {
  if (ring_) ring_buffer__consume(ring_.get());
}

void SchedTimeline::read_pending(uint64_t now, const std::vector<model::SchedThread>& threads) {
  std::unordered_map<uint32_t, uint64_t> exited;
  for (const auto& t : threads)
    if (t.exited_ns) exited[t.tid] = t.exited_ns;
  for_each_map_entry<uint32_t, sched_run_event>(bpf_map__fd(skel_->maps.run_states), [&](uint32_t, sched_run_event e) {
    if (!e.on_ns) return;
    model::ThreadRun r = run_from_event(e);
    if (!r.off_ns) {
      // Still on its CPU, unless it exited and its last switch-out was not seen.
      auto it = exited.find(r.tid);
      r.off_ns = it != exited.end() && it->second >= r.on_ns ? it->second : now;
      r.flags |= model::ThreadRun::kOpen;
    }
    make_ordered(r);
    section_.runs.push_back(r);
  });
}

void SchedTimeline::hand_over(model::Recording& rec, uint64_t now, const std::vector<model::SchedThread>& threads,
                              bool last) {
  if (!skel_) return;
  drain();
  if (last) read_pending(now, threads);
  const auto c = sum_percpu<sched_run_counters>(bpf_map__fd(skel_->maps.run_counters));
#define CCPROF_ADD_LOSS(name) rec.losses["sched." #name] += loss_part_(#name, c.name);
  SCHED_RUN_COUNTERS(CCPROF_ADD_LOSS)
#undef CCPROF_ADD_LOSS
  rec.has_sched_timeline = true;
  rec.sched_timeline = section_;
  section_.runs.clear();
}

uint64_t SchedTimeline::drops() const {
  if (!skel_) return 0;
  const auto c = sum_percpu<sched_run_counters>(bpf_map__fd(skel_->maps.run_counters));
  return c.runs_dropped + c.run_state_map_full;
}

}  // namespace ccprof::agent
