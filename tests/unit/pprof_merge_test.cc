// Merging the pprof profiles of several `ccprof serve` windows into one.
#include "report/pprof_merge.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "profile.pb.h"

namespace ccprof::report {
namespace {

namespace pp = perftools::profiles;

// One window's contention profile: `samples` (function name, lock label, delay) over
// one mapping; strings are interned in the order met, so two windows number them
// differently.
std::string window(const std::vector<std::tuple<std::string, std::string, int64_t>>& samples, int64_t time_ns,
                   const std::vector<std::string>& first_strings = {}) {
  pp::Profile p;
  std::map<std::string, int64_t> ids;
  auto str = [&](const std::string& s) {
    auto [it, fresh] = ids.emplace(s, p.string_table_size());
    if (fresh) p.add_string_table(s);
    return it->second;
  };
  str("");
  for (const auto& s : first_strings) str(s);
  for (auto [type, unit] : {std::pair{"contentions", "count"}, {"delay", "nanoseconds"}}) {
    auto* v = p.add_sample_type();
    v->set_type(str(type));
    v->set_unit(str(unit));
  }
  auto* m = p.add_mapping();
  m->set_id(1);
  m->set_filename(str("/bin/app"));
  uint64_t id = 0;
  for (const auto& [fn, lock, delay] : samples) {
    ++id;
    auto* f = p.add_function();
    f->set_id(id);
    f->set_name(str(fn));
    auto* l = p.add_location();
    l->set_id(id);
    l->set_mapping_id(1);
    l->add_line()->set_function_id(id);
    auto* s = p.add_sample();
    s->add_location_id(id);
    s->add_value(1);
    s->add_value(delay);
    auto* label = s->add_label();
    label->set_key(str("lock"));
    label->set_str(str(lock));
  }
  p.set_time_nanos(time_ns);
  p.set_duration_nanos(1'000'000'000);
  return p.SerializeAsString();
}

// delay per (function, lock), resolved through the merged profile's own tables.
std::map<std::pair<std::string, std::string>, int64_t> delays(const pp::Profile& p) {
  std::map<uint64_t, std::string> fn_of_location, fn_name;
  for (const auto& f : p.function()) fn_name[f.id()] = p.string_table(static_cast<int>(f.name()));
  for (const auto& l : p.location()) fn_of_location[l.id()] = fn_name.at(l.line(0).function_id());
  std::map<std::pair<std::string, std::string>, int64_t> out;
  for (const auto& s : p.sample()) {
    std::string lock;
    for (const auto& l : s.label())
      if (p.string_table(static_cast<int>(l.key())) == "lock") lock = p.string_table(static_cast<int>(l.str()));
    out[{fn_of_location.at(s.location_id(0)), lock}] += s.value(1);
  }
  return out;
}

TEST(PprofMerge, KeepsEverySampleWithItsNamesAndSpansTheWindows) {
  const std::string a = window({{"count_words", "g_table_mutex", 700}, {"flush", "g_log_mutex", 50}}, 10'000'000'000);
  // Strings in another order, ids that collide with the first window's.
  const std::string b = window({{"count_words", "g_table_mutex", 300}}, 11'000'000'000, {"g_table_mutex", "zzz"});
  auto merged = merge_pprof({&a, &b});
  ASSERT_TRUE(merged.ok()) << merged.status();
  pp::Profile p;
  ASSERT_TRUE(p.ParseFromString(*merged));
  auto d = delays(p);
  EXPECT_EQ((d[{"count_words", "g_table_mutex"}]), 1000);
  EXPECT_EQ((d[{"flush", "g_log_mutex"}]), 50);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(p.sample_size(), 3);
  EXPECT_EQ(p.time_nanos(), 10'000'000'000);
  EXPECT_EQ(p.duration_nanos(), 2'000'000'000);
  EXPECT_EQ(p.string_table(0), "");
  std::set<uint64_t> location_ids;
  for (const auto& l : p.location()) EXPECT_TRUE(location_ids.insert(l.id()).second) << "location id reused";
}

TEST(PprofMerge, RefusesOtherSampleTypesAndGarbage) {
  const std::string a = window({{"f", "l", 1}}, 1);
  pp::Profile other;
  other.add_string_table("");
  other.add_string_table("samples");
  other.add_sample_type()->set_type(1);
  const std::string b = other.SerializeAsString();
  EXPECT_FALSE(merge_pprof({&a, &b}).ok());
  const std::string junk = "\xff\xff\xff";
  EXPECT_FALSE(merge_pprof({&a, &junk}).ok());
  EXPECT_FALSE(merge_pprof({}).ok());
}

}  // namespace
}  // namespace ccprof::report
