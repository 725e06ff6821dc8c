#include "report/pprof_merge.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "profile.pb.h"
#include "report/pprof_strings.h"

namespace ccprof::report {
namespace {

namespace pp = perftools::profiles;

}  // namespace

absl::StatusOr<std::string> merge_pprof(const std::vector<const std::string*>& profiles) {
  if (profiles.empty()) return absl::InvalidArgumentError("no profiles to merge");
  pp::Profile out;
  PprofStrings strings(&out);
  uint64_t id_base = 0;  // ids of each input are shifted past those of the ones before it
  int64_t end_ns = 0;
  for (size_t n = 0; n < profiles.size(); ++n) {
    pp::Profile in;
    if (!in.ParseFromString(*profiles[n])) return absl::InvalidArgumentError(absl::StrCat("profile ", n, " is not a pprof profile"));
    const auto& table = in.string_table();
    auto str = [&](int64_t i) -> int64_t {
      return i > 0 && i < table.size() ? strings.id(table[static_cast<int>(i)]) : 0;
    };
    if (n == 0) {
      for (const auto& t : in.sample_type()) {
        auto* v = out.add_sample_type();
        v->set_type(str(t.type()));
        v->set_unit(str(t.unit()));
      }
      out.mutable_period_type()->set_type(str(in.period_type().type()));
      out.mutable_period_type()->set_unit(str(in.period_type().unit()));
      out.set_period(in.period());
      out.set_default_sample_type(str(in.default_sample_type()));
      out.set_time_nanos(in.time_nanos());
    } else {
      bool same = in.sample_type_size() == out.sample_type_size();
      for (int i = 0; same && i < in.sample_type_size(); ++i)
        same = table[static_cast<int>(in.sample_type(i).type())] ==
               out.string_table(static_cast<int>(out.sample_type(i).type()));
      if (!same) return absl::InvalidArgumentError(absl::StrCat("profile ", n, " has other sample types"));
    }
    uint64_t max_id = 0;
    // Copies an entry with its id moved past the earlier inputs' ids.
    auto renumbered = [&](auto* added, const auto& entry) {
      *added = entry;
      added->set_id(entry.id() + id_base);
      max_id = std::max(max_id, entry.id());
      return added;
    };
    for (const auto& m : in.mapping()) {
      auto* o = renumbered(out.add_mapping(), m);
      o->set_filename(str(m.filename()));
      o->set_build_id(str(m.build_id()));
    }
    for (const auto& f : in.function()) {
      auto* o = renumbered(out.add_function(), f);
      o->set_name(str(f.name()));
      o->set_system_name(str(f.system_name()));
      o->set_filename(str(f.filename()));
    }
    for (const auto& l : in.location()) {
      auto* o = renumbered(out.add_location(), l);
      if (l.mapping_id()) o->set_mapping_id(l.mapping_id() + id_base);
      for (auto& line : *o->mutable_line()) line.set_function_id(line.function_id() + id_base);
    }
    for (const auto& s : in.sample()) {
      auto* o = out.add_sample();
      *o = s;
      for (auto& id : *o->mutable_location_id()) id += id_base;
      for (auto& label : *o->mutable_label()) {
        label.set_key(str(label.key()));
        label.set_str(str(label.str()));
        label.set_num_unit(str(label.num_unit()));
      }
    }
    if (n + 1 == profiles.size()) {
      for (int64_t c : in.comment()) out.add_comment(str(c));
      out.add_comment(strings.id(absl::StrCat("ccprof serve: ", profiles.size(), " consecutive windows merged")));
    }
    end_ns = std::max(end_ns, in.time_nanos() + in.duration_nanos());
    id_base += max_id;
  }
  if (out.time_nanos() > 0 && end_ns > out.time_nanos()) out.set_duration_nanos(end_ns - out.time_nanos());
  return out.SerializeAsString();
}

}  // namespace ccprof::report
