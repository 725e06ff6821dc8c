// The CPU timeline (issue 14): model::SchedTimelineSection through a saved recording,
// recordings without one, and the chrome-trace export's running / runnable / blocked
// states on each thread's CPU track (no root: synthetic recordings).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "profiler/analysis.h"
#include "report/export_trace.h"
#include "tests/unit/recording_util.h"

namespace ccprof::report {
namespace {

using model::Recording;
using model::ThreadRun;

constexpr uint64_t kMs = 1'000'000;

ThreadRun run(uint32_t tid, uint32_t seq, uint64_t ready_ms, uint64_t on_ms, uint64_t off_ms, uint16_t flags = 0) {
  return {.pid = 100,
          .tid = tid,
          .ready_ns = 10'000 * kMs + ready_ms * kMs,
          .on_ns = 10'000 * kMs + on_ms * kMs,
          .off_ns = 10'000 * kMs + off_ms * kMs,
          .seq = seq,
          .cpu = 1,
          .flags = flags};
}

// Thread 101 (of a 2 s recording from 10 s): runs 1-3 one after the other, then run 5
// (run 4 was not recorded). Run 1 ended blocked, run 2 preempted.
Recording recording_with_runs() {
  Recording rec = model::two_second_recording({{101, "worker"}});
  rec.has_sched_timeline = true;
  rec.sched_timeline = {.runs_per_s = 20000, .window_ns = 100 * kMs, .coalesce_ns = 20'000};
  rec.sched_timeline.runs = {run(101, 1, 100, 200, 300), run(101, 2, 500, 600, 700, ThreadRun::kPreempted),
                             run(101, 3, 700, 800, 900), run(101, 5, 1000, 1100, 1200)};
  rec.sched_timeline.runs[1].coalesced = 2;
  rec.sched_timeline.runs[1].coalesced_ns = 30'000;
  rec.losses["sched.runs_over_budget"] = 1;
  return rec;
}

TEST(SchedTimelineSection, RoundTripsThroughASavedRecording) {
  Recording rec = recording_with_runs();
  rec.sched_timeline.runs[0].off_ns = 1ull << 40;  // above 2^32 ns: must survive
  auto back = model::round_trip(rec, "sched_timeline");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_sched_timeline);
  EXPECT_EQ(back->sched_timeline.runs_per_s, 20000u);
  EXPECT_EQ(back->sched_timeline.window_ns, 100 * kMs);
  EXPECT_EQ(back->sched_timeline.coalesce_ns, 20'000u);
  ASSERT_EQ(back->sched_timeline.runs.size(), 4u);
  const ThreadRun& r = back->sched_timeline.runs[1];
  EXPECT_EQ(r.pid, 100u);
  EXPECT_EQ(r.tid, 101u);
  EXPECT_EQ(r.seq, 2u);
  EXPECT_EQ(r.ready_ns, 10'500 * kMs);
  EXPECT_EQ(r.on_ns, 10'600 * kMs);
  EXPECT_EQ(r.off_ns, 10'700 * kMs);
  EXPECT_EQ(r.cpu, 1u);
  EXPECT_EQ(r.flags, ThreadRun::kPreempted);
  EXPECT_EQ(r.coalesced, 2u);
  EXPECT_EQ(r.coalesced_ns, 30'000u);
  EXPECT_EQ(r.running_ns(), 100 * kMs - 30'000);
  EXPECT_EQ(back->sched_timeline.runs[0].off_ns, 1ull << 40);
}

// Recordings made before the timeline existed have no "sched_timeline" key (what the
// writer leaves out when has_sched_timeline is false): they still read, without one,
// and the export says so instead of drawing nothing silently.
TEST(SchedTimelineSection, OlderRecordingsReadWithoutOne) {
  Recording rec = recording_with_runs();
  rec.has_sched_timeline = false;
  auto back = model::round_trip(rec, "sched_timeline_old");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->has_sched_timeline);
  EXPECT_TRUE(back->sched_timeline.runs.empty());
  auto index = profiler::build_index(*back);
  auto trace = render_chrome_trace(*index);
  ASSERT_TRUE(trace["otherData"]["running_intervals"].is_string());
  EXPECT_NE(trace["otherData"]["running_intervals"].get<std::string>().find("not recorded"), std::string::npos);
  for (const auto& e : trace["traceEvents"]) EXPECT_NE(e.value("cat", ""), "sched");
}

TEST(SchedTimelineSection, ARunThatEndsBeforeItStartsIsCorrupt) {
  Recording rec = recording_with_runs();
  std::swap(rec.sched_timeline.runs[2].on_ns, rec.sched_timeline.runs[2].off_ns);
  auto back = model::round_trip(rec, "sched_timeline_bad");
  EXPECT_TRUE(absl::IsDataLoss(back.status())) << back.status();
}

TEST(ChromeTrace, RunsAreRunningRunnableAndBlockedOnTheThreadsCpuTrack) {
  Recording rec = recording_with_runs();
  auto index = profiler::build_index(rec);
  auto trace = render_chrome_trace(*index);
  std::vector<std::tuple<std::string, double, double>> states;  // name, ts, dur (µs)
  std::string track_name;
  nlohmann::json runnable_args = nlohmann::json::array();
  for (const auto& e : trace["traceEvents"]) {
    if (e["tid"] != kCpuStateTrackTid + 101) continue;
    EXPECT_EQ(e["pid"], 100);
    if (e["ph"] == "M" && e["name"] == "thread_name") track_name = e["args"]["name"];
    if (e["ph"] != "X") continue;
    EXPECT_EQ(e["cat"], "sched");
    states.emplace_back(e["name"], e["ts"], e["dur"]);
    if (e["name"] == "runnable") runnable_args.push_back(e.value("args", nlohmann::json()));
  }
  EXPECT_EQ(track_name, "worker 101 · CPU");
  std::sort(states.begin(), states.end(), [](const auto& a, const auto& b) { return std::get<1>(a) < std::get<1>(b); });
  using S = std::tuple<std::string, double, double>;
  // From 10 s, in µs: runnable before each run; blocked only between runs recorded one
  // after the other (not between runs 3 and 5: run 4 is unknown), and not after the
  // preempted run 2 (runnable from its switch-out on).
  EXPECT_EQ(states, (std::vector<S>{{"runnable", 100e3, 100e3},
                                    {"running", 200e3, 100e3},
                                    {"blocked", 300e3, 200e3},
                                    {"runnable", 500e3, 100e3},
                                    {"running", 600e3, 100e3},
                                    {"runnable", 700e3, 100e3},
                                    {"running", 800e3, 100e3},
                                    {"runnable", 1000e3, 100e3},
                                    {"running", 1100e3, 100e3}}));
  // What the thread waited for: a wakeup after a blocked run, a CPU after a preemption;
  // unknown after an unrecorded run.
  EXPECT_EQ(runnable_args, nlohmann::json::parse(R"([null, {"after":"wakeup"}, {"after":"preemption"}, null])"));
  const auto& other = trace["otherData"]["running_intervals"];
  EXPECT_EQ(other["runs"], 4);
  EXPECT_EQ(other["runs_over_budget"], 1);
  EXPECT_DOUBLE_EQ(other["coalesced_gaps_us"].get<double>(), 30.0);
}

TEST(ChromeTrace, RunsAreClippedToTheProfile) {
  Recording rec = recording_with_runs();
  rec.sched_timeline.runs = {run(101, 1, 1900, 1950, 2500, ThreadRun::kOpen)};  // ends after the profile
  auto index = profiler::build_index(rec);
  auto trace = render_chrome_trace(*index);
  double running_us = 0;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X" && e["name"] == "running") running_us += e["dur"].get<double>();
  EXPECT_DOUBLE_EQ(running_us, 50e3);
}

}  // namespace
}  // namespace ccprof::report
