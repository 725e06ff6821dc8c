// The format-neutral export model and its writers, on synthetic recordings (no root).
#include <zlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "profile.pb.h"
#include "profiler/analysis.h"
#include "report/export_collapsed.h"
#include "report/export_pprof.h"
#include "report/export_profile.h"
#include "report/export_trace.h"

namespace ccprof::report {
namespace {

using model::Recording;

TEST(Apportion, PartsSumExactlyToTheTotal) {
  auto p = apportion(1000, {1, 1, 1});
  EXPECT_EQ(p[0] + p[1] + p[2], 1000);
  EXPECT_THAT(p, testing::ElementsAre(333, 334, 333));
  EXPECT_THAT(apportion(10, {0, 0}), testing::ElementsAre(5, 5));
  EXPECT_THAT(apportion(7, {3, 0, 1}), testing::ElementsAre(5, 0, 2));
  EXPECT_TRUE(apportion(5, {}).empty());
}

// Two locks with exact kernel totals and wait events but no stacks.
Recording two_locks() {
  Recording rec;
  rec.start_ns = 1'000'000'000;
  rec.end_ns = 3'000'000'000;
  rec.processes.push_back({42, "w", {"w"}, "/nonexistent/w", {}});
  rec.threads.push_back({42, 42, "w", 0, 0});
  rec.threads.push_back({43, 42, "w", 0, 0});
  profiler::FutexAddrStats a;
  a.uaddr = 0x1000;
  a.pid = 42;
  a.waits = 10;
  a.wait_ns = 500'000'000;
  rec.futex_addrs.push_back(a);
  a.uaddr = 0x2000;
  a.waits = 3;
  a.wait_ns = 7;
  rec.futex_addrs.push_back(a);
  profiler::FutexWait w;
  w.uaddr = 0x1000;
  w.pid = 42;
  w.tid = 43;
  w.expected = 2;
  w.start_ns = 1'500'000'000;
  w.duration_ns = 40'000'000;
  rec.futex_waits.push_back(w);
  return rec;
}

TEST(ContentionProfile, LocksWithoutStacksKeepTheirExactTotalsUnderAPseudoFrame) {
  Recording rec = two_locks();
  auto index = profiler::build_index(rec);
  const profiler::Index& ctx = *index;
  ExportProfile p = build_contention_profile(ctx);
  ASSERT_EQ(p.samples.size(), 2u);
  int64_t delay = 0, count = 0;
  for (const auto& s : p.samples) {
    ASSERT_EQ(s.frames.size(), 1u);
    EXPECT_EQ(s.frames[0].pseudo, "[no stack sampled for this lock]");
    count += s.values[0];
    delay += s.values[1];
  }
  EXPECT_EQ(count, 13);
  EXPECT_EQ(delay, 500'000'007);
  EXPECT_EQ(p.samples[0].labels.at("lock_address"), "0x1000");  // by total wait
}

TEST(Collapsed, OneLinePerStackRootFirstWithSafeNames) {
  ExportProfile p;
  p.sample_types = {{"contentions", "count"}, {"delay", "nanoseconds"}};
  p.default_sample_type = "delay";
  ExportFrame leaf, root;
  leaf.pseudo = "leaf;with space";
  root.pseudo = "root";
  p.samples.push_back({{leaf, root}, {1, 100}, {}, {}});
  p.samples.push_back({{leaf, root}, {1, 20}, {}, {}});
  p.samples.push_back({{root}, {1, 0}, {}, {}});  // zero: left out
  EXPECT_EQ(render_collapsed(p), "root;leaf:with_space 120\n");
}

std::string gunzip(const std::string& gz) {
  z_stream zs{};
  inflateInit2(&zs, 15 + 16);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = gz.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  int rc = inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return rc == Z_STREAM_END ? out : "";
}

TEST(Pprof, EncodesSampleTypesLabelsAndPseudoFramesThatRoundTrip) {
  Recording rec = two_locks();
  auto index = profiler::build_index(rec);
  const profiler::Index& ctx = *index;
  ExportProfile p = build_contention_profile(ctx);
  auto gz = gzip_bytes(encode_pprof(p, rec));
  ASSERT_TRUE(gz.ok());
  perftools::profiles::Profile pb;
  ASSERT_TRUE(pb.ParseFromString(gunzip(*gz)));
  const auto& st = pb.string_table();
  ASSERT_GT(st.size(), 0);
  EXPECT_EQ(st[0], "");
  ASSERT_EQ(pb.sample_type_size(), 2);
  EXPECT_EQ(st[pb.sample_type(0).type()], "contentions");
  EXPECT_EQ(st[pb.sample_type(1).type()], "delay");
  EXPECT_EQ(st[pb.sample_type(1).unit()], "nanoseconds");
  EXPECT_EQ(st[pb.default_sample_type()], "delay");
  ASSERT_EQ(pb.sample_size(), 2);
  // Both samples share the one pseudo location and function.
  EXPECT_EQ(pb.location_size(), 1);
  EXPECT_EQ(pb.sample(0).location_id(0), pb.location(0).id());
  EXPECT_EQ(st[pb.function(0).name()], "[no stack sampled for this lock]");
  EXPECT_EQ(pb.sample(0).value(1), 500'000'000);
  bool has_lock_label = false;
  for (const auto& l : pb.sample(0).label())
    if (st[l.key()] == "lock_address") has_lock_label = st[l.str()] == "0x1000";
  EXPECT_TRUE(has_lock_label);
  EXPECT_EQ(pb.duration_nanos(), 2'000'000'000);
}

TEST(ChromeTrace, WaitsAreCompleteEventsOnTheirThreadInMicroseconds) {
  Recording rec = two_locks();
  auto index = profiler::build_index(rec);
  const profiler::Index& ctx = *index;
  auto t = render_chrome_trace(ctx);
  int waits = 0, names = 0;
  for (const auto& e : t["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") ++names;
    if (e["ph"] == "X" && e["cat"] == "lock") {
      ++waits;
      EXPECT_EQ(e["tid"], 43);
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 500'000.0);
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 40'000.0);
    }
  }
  EXPECT_EQ(waits, 1);
  EXPECT_EQ(names, 2);
}

}  // namespace
}  // namespace ccprof::report
