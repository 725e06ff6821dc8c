#include "report/export_pprof.h"

#include <elfutils/libdwfl.h>
#include <zlib.h>

#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "absl/strings/str_format.h"
#include "profile.pb.h"
#include "report/pprof_strings.h"

namespace ccprof::report {
namespace {

namespace pb = perftools::profiles;

std::string hex_bytes(const unsigned char* b, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += absl::StrFormat("%02x", b[i]);
  return s;
}

// The build ID of the ELF file `path` (its NT_GNU_BUILD_ID note), "" when it has none.
std::string build_id_of(const std::string& path) {
  static const Dwfl_Callbacks kCallbacks = {dwfl_build_id_find_elf, dwfl_standard_find_debuginfo, nullptr, nullptr};
  Dwfl* dwfl = dwfl_begin(&kCallbacks);
  if (!dwfl) return "";
  std::string out;
  dwfl_report_begin(dwfl);
  if (Dwfl_Module* mod = dwfl_report_offline(dwfl, "m", path.c_str(), -1)) {
    const unsigned char* bits = nullptr;
    GElf_Addr vaddr = 0;
    int n = dwfl_module_build_id(mod, &bits, &vaddr);
    if (n > 0) out = hex_bytes(bits, n);
  }
  dwfl_report_end(dwfl, nullptr, nullptr);
  dwfl_end(dwfl);
  return out;
}

class Encoder {
 public:
  Encoder(const model::Recording& rec, pb::Profile* p) : rec_(rec), p_(p), strings_(p) {}

  uint64_t location(const ExportFrame& f) {
    if (!f.loc) {
      auto [it, added] = pseudo_locations_.emplace(f.pseudo, 0);
      if (added) {
        pb::Location* l = p_->add_location();
        l->set_id(p_->location_size());
        l->add_line()->set_function_id(function(f.pseudo, ""));
        it->second = l->id();
      }
      return it->second;
    }
    auto [it, added] = locations_.emplace(std::make_pair(f.pid, f.address), 0);
    if (!added) return it->second;
    pb::Location* l = p_->add_location();
    l->set_id(p_->location_size());
    l->set_address(f.address);
    l->set_mapping_id(mapping(f.pid, f.address));
    const auto& levels = f.loc->inline_levels;
    if (levels.empty()) {
      auto* line = l->add_line();
      line->set_function_id(function(f.loc->function, f.loc->file));
      line->set_line(f.loc->line);
    }
    for (const auto& lv : levels) {
      auto* line = l->add_line();
      line->set_function_id(function(lv.function.empty() ? f.loc->function : lv.function, lv.file));
      line->set_line(lv.line);
    }
    if (f.loc->has_debug_info) debug_mappings_.insert(l->mapping_id());
    it->second = l->id();
    return it->second;
  }

  void finish_mappings() {
    for (int i = 0; i < p_->mapping_size(); ++i) {
      pb::Mapping* m = p_->mutable_mapping(i);
      bool dbg = debug_mappings_.count(m->id()) > 0;
      // Functions come from the symbol table even without debug info.
      m->set_has_functions(true);
      m->set_has_filenames(dbg);
      m->set_has_line_numbers(dbg);
      m->set_has_inline_frames(dbg);
    }
  }

  // pprof takes the first mapping for the main binary: the executable of each process
  // the samples name, before any library.
  void main_mappings(const ExportProfile& profile) {
    std::set<uint32_t> pids;
    for (const auto& s : profile.samples)
      for (const auto& f : s.frames)
        if (f.loc) pids.insert(f.pid);
    for (uint32_t pid : pids)
      if (const profiler::ProcessInfo* proc = rec_.process(pid))
        for (const auto& m : proc->maps)
          if (!proc->exe.empty() && m.path == proc->exe && m.perms.find('x') != std::string::npos) {
            mapping(pid, m.start);
            break;
          }
  }

  PprofStrings& strings() { return strings_; }

 private:
  uint64_t function(const std::string& name, const std::string& file) {
    auto [it, added] = functions_.emplace(std::make_pair(name, file), 0);
    if (added) {
      pb::Function* fn = p_->add_function();
      fn->set_id(p_->function_size());
      fn->set_name(strings_.id(name));
      fn->set_system_name(strings_.id(name));
      fn->set_filename(strings_.id(file));
      it->second = fn->id();
    }
    return it->second;
  }

  // The recorded executable mapping of `pid` that holds `addr`; 0 when none does.
  uint64_t mapping(uint32_t pid, uint64_t addr) {
    const profiler::ProcessInfo* proc = rec_.process(pid);
    if (!proc) return 0;
    for (const auto& m : proc->maps) {
      if (addr < m.start || addr >= m.end) continue;
      auto [it, added] = mappings_.emplace(std::make_tuple(pid, m.start, m.end), 0);
      if (added) {
        pb::Mapping* pm = p_->add_mapping();
        pm->set_id(p_->mapping_size());
        pm->set_memory_start(m.start);
        pm->set_memory_limit(m.end);
        pm->set_file_offset(m.offset);
        pm->set_filename(strings_.id(m.path));
        if (!m.path.empty() && m.path[0] == '/') {
          auto [bit, fresh] = build_ids_.emplace(m.path, "");
          // The one recorded while the target lived (the file it mapped, even in a
          // container); the file at this path here only for older recordings.
          if (fresh) bit->second = m.build_id.empty() ? build_id_of(m.path) : m.build_id;
          pm->set_build_id(strings_.id(bit->second));
        }
        it->second = pm->id();
      }
      return it->second;
    }
    return 0;
  }

  const model::Recording& rec_;
  pb::Profile* p_;
  PprofStrings strings_;
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> locations_;
  std::map<std::string, uint64_t> pseudo_locations_;
  std::map<std::pair<std::string, std::string>, uint64_t> functions_;
  std::map<std::tuple<uint32_t, uint64_t, uint64_t>, uint64_t> mappings_;
  std::map<std::string, std::string> build_ids_;
  std::set<uint64_t> debug_mappings_;
};

}  // namespace

std::string encode_pprof(const ExportProfile& profile, const model::Recording& rec) {
  pb::Profile p;
  Encoder enc(rec, &p);
  PprofStrings& st = enc.strings();
  for (const auto& t : profile.sample_types) {
    auto* vt = p.add_sample_type();
    vt->set_type(st.id(t.type));
    vt->set_unit(st.id(t.unit));
  }
  p.set_default_sample_type(st.id(profile.default_sample_type));
  if (!profile.sample_types.empty()) {
    p.mutable_period_type()->set_type(st.id(profile.sample_types.front().type));
    p.mutable_period_type()->set_unit(st.id(profile.sample_types.front().unit));
    p.set_period(1);
  }
  p.set_time_nanos(profile.time_ns);
  p.set_duration_nanos(profile.duration_ns);
  for (const auto& c : profile.comments) p.add_comment(st.id(c));
  enc.main_mappings(profile);
  for (const auto& s : profile.samples) {
    pb::Sample* ps = p.add_sample();
    for (const auto& f : s.frames) ps->add_location_id(enc.location(f));
    for (int64_t v : s.values) ps->add_value(v);
    for (const auto& [k, v] : s.labels) {
      auto* l = ps->add_label();
      l->set_key(st.id(k));
      l->set_str(st.id(v));
    }
    for (const auto& [k, v] : s.num_labels) {
      auto* l = ps->add_label();
      l->set_key(st.id(k));
      l->set_num(v);
    }
  }
  enc.finish_mappings();
  return p.SerializeAsString();
}

absl::StatusOr<std::string> gzip_bytes(const std::string& data) {
  z_stream zs{};
  // 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return absl::InternalError("gzip: deflateInit2 failed");
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InternalError("gzip: deflate did not finish");
  out.resize(n);
  return out;
}

}  // namespace ccprof::report
