#include "profiler/symbolizer.h"

#include "profiler/dwarf_scopes.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "profiler/debuginfo_lookup.h"
#include "profiler/demangle.h"
#include "profiler/libdw_error.h"
#include "profiler/lock_libraries.h"
#include "profiler/module_by_build_id.h"
#include "model/printable.h"
#include "model/untrusted_input.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {
namespace {

char* g_debuginfo_path = nullptr;
const Dwfl_Callbacks kOfflineCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    // Not dwfl_standard_find_debuginfo: it open()s paths taken from the target's ELF
    // (.gnu_debuglink) with a blocking open, and may fetch from debuginfod servers.
    .find_debuginfo = find_debuginfo_safely,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &g_debuginfo_path,
};

std::string basename_of(const std::string& p) {
  auto i = p.rfind('/');
  return i == std::string::npos ? p : p.substr(i + 1);
}

std::string strip_params(const std::string& s) {
  // "ns::(anonymous namespace)::count_words(int) const" -> "ns::(anonymous namespace)::count_words":
  // cut at the '(' matching the parameter list's closing ')' at the end.
  std::string t = s;
  for (const char* q : {" const", " volatile", " &&", " &", " noexcept"})
    while (t.size() > strlen(q) && t.compare(t.size() - strlen(q), strlen(q), q) == 0) t.resize(t.size() - strlen(q));
  if (t.empty() || t.back() != ')') return s;
  int depth = 0;
  for (size_t i = t.size(); i-- > 0;) {
    if (t[i] == ')') ++depth;
    else if (t[i] == '(' && --depth == 0) {
      std::string head = t.substr(0, i);
      // "operator()" keeps its own parentheses.
      if (head.size() >= 8 && head.compare(head.size() - 8, 8, "operator") == 0) return head + "()";
      return head.empty() ? s : head;
    }
  }
  return s;
}

// Name of a subprogram or inlined-subroutine DIE: its linkage name demangled when it
// has one (qualified: "std::mutex::lock()"), else its plain name.
std::string die_function_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  if (Dwarf_Attribute* a = dwarf_attr_integrate(die, DW_AT_linkage_name, &attr)) {
    if (const char* s = dwarf_formstring(a)) {
      return strip_params(demangle(s));
    }
  }
  if (Dwarf_Attribute* a = dwarf_attr_integrate(die, DW_AT_name, &attr))
    if (const char* s = dwarf_formstring(a)) return s;
  return "";
}

}  // namespace

bool find_innermost_scope(Dwarf_Die* parent, Dwarf_Addr pc, Dwarf_Die* out, int depth) {
  Dwarf_Die c;
  if (depth > 64 || dwarf_child(parent, &c) != 0) return false;
  do {
    switch (dwarf_tag(&c)) {
      case DW_TAG_subprogram:
      case DW_TAG_inlined_subroutine:
      case DW_TAG_lexical_block:
        if (dwarf_haspc(&c, pc) > 0) {
          *out = c;
          find_innermost_scope(&c, pc, out, depth + 1);
          return true;
        }
        break;
      case DW_TAG_namespace:
      case DW_TAG_structure_type:
      case DW_TAG_class_type:
      case DW_TAG_union_type:
      case DW_TAG_enumeration_type:
        if (find_innermost_scope(&c, pc, out, depth + 1)) return true;
        break;
      default:
        break;
    }
  } while (dwarf_siblingof(&c, &c) == 0);
  return false;
}

SourceLocation to_source_location(const CodeLocation& loc, std::string role, double share, uint64_t address) {
  SourceLocation s;
  s.function = loc.function;
  s.file = loc.file;
  s.line = loc.line;
  s.module = loc.module;
  s.address = address;
  s.role = std::move(role);
  s.share = share;
  return s;
}

SourceLocation file_location(std::string file, std::string function, std::string role, double share) {
  SourceLocation s;
  s.function = std::move(function);
  s.file = std::move(file);
  s.role = std::move(role);
  s.share = share;
  return s;
}

bool is_system_object(const std::string& path) { return library_of_module(path) != nullptr; }

bool is_system_source(const std::string& file) { return library_of_source(file) != nullptr; }

// elfutils' default search path for separate debug files (next to the binary, in
// .debug/ beside it, and /usr/lib/debug, each also by build ID under .build-id/),
// extended by the directories in $CCPROF_DEBUGINFO_PATH (colon-separated): a
// stripped binary's debug file is found there as DIR/.build-id/xx/yyyy.debug.
static void init_debuginfo_path() {
  static std::string path = [] {
    std::string p = ":.debug:/usr/lib/debug";
    if (const char* extra = getenv("CCPROF_DEBUGINFO_PATH"); extra && *extra) p = absl::StrCat(p, ":", extra);
    return p;
  }();
  g_debuginfo_path = path.data();
}

Symbolizer::Symbolizer(const ProcessInfo& proc, const model::TargetFiles* files) : proc_(proc), files_(files) {
  init_debuginfo_path();
  dwfl_ = dwfl_begin(&kOfflineCallbacks);
  if (!dwfl_) {
    spdlog::warn("libdw: cannot start a session: {}", libdw_error_text(-1));
    return;
  }
  dwfl_report_begin(dwfl_);
  // One module per file: its load bias is start - offset of its lowest-offset mapping.
  std::map<std::string, const MemoryMap*> first;
  std::map<std::string, std::string> recorded_id;  // path -> the build ID any of its maps recorded
  for (const auto& m : proc.maps) {
    if (m.path.empty() || m.path[0] != '/' || m.inode == 0) continue;
    auto it = first.find(m.path);
    if (it == first.end() || m.offset < it->second->offset) first[m.path] = &m;
    if (!m.build_id.empty()) recorded_id.emplace(m.path, m.build_id);
  }
  for (const auto& [path, m] : first) {
    // The paths come from the target or from a recording someone sent: open only
    // regular ELF files, never block (see untrusted_input.h). libdwfl owns the fd of a
    // module it accepts; a rejected file costs that module's symbols, nothing else.
    absl::StatusOr<int> fd = -1;
    std::string file_name = path;
    const auto id = recorded_id.find(path);
    if (id != recorded_id.end() && !(files_ && files_->module_fd(proc.pid, m->path, m->inode) >= 0)) {
      // A recording's module without the descriptor of the live profile: the file with
      // the recorded build ID, wherever it is here, and never another build's.
      ModuleFile f = open_module_by_build_id(path, id->second);
      if (f.build_id_differs) build_id_differs_.insert(path);
      host_files_[path] = {f.path, f.detail};
      if (f.fd >= 0) file_name = f.path;
      fd = f.fd >= 0 ? absl::StatusOr<int>(f.fd) : absl::NotFoundError(f.detail);
    } else {
      fd = open_mapped_file(*m);
    }
    if (!fd.ok()) {
      unreadable_[path] = std::string(fd.status().message());
      spdlog::debug("symbolizer: {}; its addresses stay unresolved", std::string(fd.status().message()));
      continue;
    }
    char magic[4] = {};
    if (pread(*fd, magic, sizeof magic, 0) != sizeof magic || memcmp(magic, ELFMAG, SELFMAG) != 0) {
      // Not ELF (locale-archive, fonts, data files). Checked here because libdwfl would
      // try to decompress it and then close the fd itself, making ownership ambiguous.
      close(*fd);
      continue;
    }
    Dwfl_Module* mod =
        dwfl_report_elf(dwfl_, basename_of(path).c_str(), file_name.c_str(), *fd, m->start - m->offset, false);
    if (!mod) {
      close(*fd);
      spdlog::debug("symbolizer: cannot read {}: {}", printable(path), libdw_error_text(-1));
      continue;
    }
    // Tells find_debuginfo_safely() which target's root to search too.
    void** userdata = nullptr;
    dwfl_module_info(mod, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (userdata) *userdata = &(searches_[path] = DebuginfoSearch{files_, proc.pid});
    modules_[path] = mod;
  }
  dwfl_report_end(dwfl_, nullptr, nullptr);
}

Symbolizer::~Symbolizer() {
  if (dwfl_) dwfl_end(dwfl_);
}

const MemoryMap* Symbolizer::map_of(uint64_t addr) const {
  for (const auto& m : proc_.maps)
    if (addr >= m.start && addr < m.end) return &m;
  return nullptr;
}

bool Symbolizer::read_file_bytes(uint64_t addr, size_t len, std::vector<uint8_t>& out) const {
  const MemoryMap* m = map_of(addr);
  if (!m || m->path.empty() || m->path[0] != '/' || m->inode == 0) return false;
  len = std::min<uint64_t>(len, m->end - addr);
  auto fd = open_mapped_file(*m);
  if (!fd.ok()) return false;
  out.resize(len);
  ssize_t n = pread(*fd, out.data(), len, static_cast<off_t>(addr - m->start + m->offset));
  close(*fd);
  if (n <= 0) return false;
  out.resize(static_cast<size_t>(n));
  return true;
}

absl::StatusOr<int> Symbolizer::open_mapped_file(const MemoryMap& m) const {
  // The file the target mapped, opened while it lived: the one under a container's
  // root or a deleted one, which this host's path would miss or confuse.
  if (files_) {
    if (const int kept = files_->module_fd(proc_.pid, m.path, m.inode); kept >= 0) {
      const int fd = fcntl(kept, F_DUPFD_CLOEXEC, 0);
      if (fd >= 0) return fd;
    }
  }
  if (auto it = host_files_.find(m.path); it != host_files_.end()) {
    if (it->second.path.empty()) return absl::NotFoundError(it->second.detail);
    return open_regular_file(it->second.path);
  }
  return open_regular_file(m.path);
}

const CodeLocation& Symbolizer::code(uint64_t pc) {
  auto it = code_cache_.find(pc);
  if (it != code_cache_.end()) return it->second;
  CodeLocation loc;
  Dwfl_Module* mod = dwfl_ ? dwfl_addrmodule(dwfl_, pc) : nullptr;
  if (!mod) {
    if (const MemoryMap* m = map_of(pc)) {
      loc.module = m->path.empty() ? "[anonymous]" : m->path;
      if (unreadable_.count(m->path)) unreadable_hit_.insert(m->path);
      loc.module_offset = pc - m->start + m->offset;
    }
    loc.function = absl::StrFormat("0x%x", pc);
    ++unresolved_code_;
    return code_cache_.emplace(pc, std::move(loc)).first->second;
  }
  Dwarf_Addr mod_low = 0;
  const char* mod_file = nullptr;
  dwfl_module_info(mod, nullptr, &mod_low, nullptr, nullptr, nullptr, &mod_file, nullptr);
  const MemoryMap* m = map_of(pc);
  loc.module = m ? m->path : (mod_file ? mod_file : "");
  loc.module_offset = pc - mod_low;
  loc.in_system_library = is_system_object(loc.module);

  GElf_Off off = 0;
  GElf_Sym sym;
  const char* name = symbol(mod, pc, &off, &sym);
  std::string symbol_name = name ? strip_params(demangle(name)) : "";

  // Inline chain and the line of each level, innermost first.
  struct Level { std::string function, file; int line; };
  std::vector<Level> levels;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cudie = dwfl_module_addrdie(mod, pc, &bias);
  if (cudie) {
    loc.has_debug_info = true;
    std::string file;
    int line = 0;
    if (Dwfl_Line* l = dwfl_module_getsrc(mod, pc)) {
      int ln = 0;
      const char* f = dwfl_lineinfo(l, nullptr, &ln, nullptr, nullptr, nullptr);
      if (f) file = f;
      line = ln;
    }
    // A separate debug file (found by build ID) can yield names relative to the
    // compilation directory (`../src/x.cc` from a build dir): make them absolute.
    Dwarf_Attribute comp_attr;
    const char* comp_dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &comp_attr));
    auto absolute = [comp_dir](std::string f) {
      if (f.empty() || f[0] == '/' || !comp_dir) return f;
      return (std::filesystem::path(comp_dir) / f).lexically_normal().string();
    };
    file = absolute(file);
    // dwarf_getscopes() mixes in the abstract origins of inlined functions; re-walk
    // the concrete parents of the innermost scope instead (as eu-addr2line -i does).
    Dwarf_Die* outer_scopes = nullptr;
    Dwarf_Die* scopes = nullptr;
    int n = 0;
    if (dwarf_getscopes(cudie, pc - bias, &outer_scopes) > 0) {
      Dwarf_Die innermost;
      if (dwarf_offdie(dwarf_cu_getdwarf(cudie->cu), dwarf_dieoffset(&outer_scopes[0]), &innermost))
        n = dwarf_getscopes_die(&innermost, &scopes);
    } else if (Dwarf_Die innermost; find_innermost_scope(cudie, pc - bias, &innermost)) {
      n = dwarf_getscopes_die(&innermost, &scopes);
    }
    free(outer_scopes);
    Dwarf_Files* files = nullptr;
    size_t nfiles = 0;
    dwarf_getsrcfiles(cudie, &files, &nfiles);
    for (int i = 0; i < n; ++i) {
      int tag = dwarf_tag(&scopes[i]);
      if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
      std::string fn = die_function_name(&scopes[i]);
      if (tag == DW_TAG_subprogram && !symbol_name.empty()) fn = symbol_name;
      levels.push_back({fn, file, line});
      if (tag == DW_TAG_subprogram) break;
      // The caller's location is this inlined call's call site.
      Dwarf_Attribute attr;
      Dwarf_Word cf = 0, cl = 0;
      file.clear();
      line = 0;
      if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &cf) == 0 && files) {
        if (const char* f = dwarf_filesrc(files, cf, nullptr, nullptr)) file = absolute(f);
      }
      if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &cl) == 0) line = static_cast<int>(cl);
    }
    free(scopes);
    if (levels.empty()) levels.push_back({symbol_name, file, line});
  } else {
    ++missing_debug_;
    // A module has debug info when any of its code has a CU: its PLT, _start and other
    // CRT code have none even in a -g build, and must not make it a module without.
    module_debug_.emplace(loc.module, false);
    levels.push_back({symbol_name.empty() ? eh_frame_function(mod, pc, loc.module) : symbol_name, "", 0});
  }
  for (const auto& lv : levels) loc.inline_chain.push_back(lv.function);
  for (const auto& lv : levels) loc.inline_levels.push_back({lv.function, lv.file, lv.line});
  // The user's view: the innermost level whose source is not a system header.
  const Level* pick = &levels.front();
  for (const auto& lv : levels)
    if (!lv.file.empty() && !is_system_source(lv.file)) {
      pick = &lv;
      break;
    }
  if (pick == &levels.front() && is_system_source(pick->file)) pick = &levels.back();
  // Without a symbol the user sees module+offset of this instruction; the inline
  // chain keeps the function's identity (its .eh_frame start) for rules that group
  // the instructions of one function.
  const bool no_symbol = symbol_name.empty() && pick->file.empty();
  loc.function = pick->function.empty() || no_symbol
                     ? absl::StrFormat("%s+0x%x", basename_of(loc.module), loc.module_offset)
                     : pick->function;
  loc.file = pick->file;
  loc.line = pick->line;
  if (loc.has_debug_info) module_debug_[loc.module] = true;
  return code_cache_.emplace(pc, std::move(loc)).first->second;
}

const char* Symbolizer::symbol(Dwfl_Module* mod, uint64_t addr, GElf_Off* offset, GElf_Sym* sym) {
  auto& table = symbol_tables_[mod];
  if (!table) table = std::make_unique<SymbolTable>(mod);
  return symbol_at(mod, table.get(), addr, offset, sym);
}

// "module+0xSTART" of the .eh_frame FDE that covers pc (a stripped function's
// identity), or "module+0xPC" when no FDE does.
std::string Symbolizer::eh_frame_function(Dwfl_Module* mod, uint64_t pc, const std::string& module) {
  Dwarf_Addr low = 0;
  dwfl_module_info(mod, nullptr, &low, nullptr, nullptr, nullptr, nullptr, nullptr);
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(mod, &bias);
  auto it = eh_frames_.find(low);
  if (it == eh_frames_.end()) it = eh_frames_.emplace(low, read_eh_frame_functions(elf)).first;
  const FunctionBounds* b = find_function_bounds(it->second, pc - bias);
  const uint64_t start = b ? b->start + bias : pc;
  const MemoryMap* m = map_of(start);
  const uint64_t off = m ? start - m->start + m->offset : start - low;
  return absl::StrFormat("%s+0x%x", basename_of(module), off);
}

DataLocation Symbolizer::data(uint64_t addr) {
  DataLocation d;
  const MemoryMap* m = map_of(addr);
  // A global or static symbol first: .bss beyond the file's last page lives in an
  // anonymous mapping, but the module's address range still covers it.
  Dwfl_Module* mod = dwfl_ ? dwfl_addrmodule(dwfl_, addr) : nullptr;
  if (mod) {
    GElf_Off off = 0;
    GElf_Sym sym;
    const char* name = symbol(mod, addr, &off, &sym);
    if (name && (sym.st_size == 0 ? off == 0 : off < sym.st_size) && GELF_ST_TYPE(sym.st_info) != STT_FUNC) {
      const char* mod_file = nullptr;
      dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, &mod_file, nullptr);
      d.module = mod_file ? mod_file : (m ? m->path : "");
      d.name = strip_params(demangle(name));
      if (off) d.name += absl::StrFormat("+%d", off);
      d.symbol_start = addr - off;
      d.symbol_size = sym.st_size;
      d.region = "global";
      d.region_detail = basename_of(d.module);
      return d;
    }
    // A module's static data without a symbol (a stripped library's file-local
    // `static` lock, Abseil's deadlock-detection SpinLock for one): still the module's,
    // not a heap arena. Its .bss beyond the file's last page is an anonymous mapping
    // inside the module's range; code (an executable mapping) is never data.
    const char* mod_file = nullptr;
    dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, &mod_file, nullptr);
    const bool code = m && m->perms.size() >= 3 && m->perms[2] == 'x';
    if (mod_file && !code && (!m || m->path.empty() || m->path == mod_file)) {
      GElf_Addr bias = 0;
      dwfl_module_getelf(mod, &bias);
      d.module = mod_file;
      d.region = "global";
      d.region_detail = absl::StrFormat("%s+0x%x (static data, no symbol)", basename_of(d.module), addr - bias);
      return d;
    }
  }
  if (!m) {
    d.region = "unknown";
    d.region_detail = "not in any recorded mapping";
  } else if (m->path == "[heap]") {
    d.region = "heap";
    d.region_detail = "[heap]";
  } else if (m->path == "[stack]") {
    d.region = "stack";
    d.region_detail = "stack of the main thread";
  } else if (m->path.empty()) {
    d.region = "anonymous";
    d.region_detail = absl::StrFormat("anonymous mapping 0x%x-0x%x (heap arena or thread stack)", m->start, m->end);
  } else if (m->perms.size() >= 4 && m->perms[3] == 's') {
    // MAP_SHARED: memory other processes may map too (profiler/shared_objects.h).
    d.region = "shared memory";
    const bool anonymous = m->path.rfind("/dev/zero", 0) == 0;
    d.region_detail = absl::StrFormat("%s+0x%x", anonymous ? "shared anonymous mapping" : m->path,
                                      addr - m->start + m->offset);
  } else if (m->path[0] == '/') {
    d.module = m->path;
    d.region = m->perms.find('w') != std::string::npos ? "global" : "mapped file";
    d.region_detail = absl::StrFormat("%s+0x%x", basename_of(m->path), addr - m->start + m->offset);
  } else {
    d.region = "anonymous";
    d.region_detail = m->path;
  }
  return d;
}

std::vector<std::string> Symbolizer::modules_without_debug_info() const {
  std::vector<std::string> out;
  for (const auto& [mod, has] : module_debug_)
    if (!has) out.push_back(mod);
  return out;
}

std::vector<std::string> Symbolizer::unreadable_modules() const {
  std::vector<std::string> out;
  for (const auto& path : unreadable_hit_)
    if (!build_id_differs_.count(path)) out.push_back(path);
  return out;
}

std::vector<std::string> Symbolizer::refused_modules() const {
  std::vector<std::string> out;
  for (const auto& path : unreadable_hit_)
    if (build_id_differs_.count(path)) out.push_back(path);
  return out;
}

std::vector<ModuleDebugInfo> Symbolizer::debug_info_sources() const {
  std::vector<ModuleDebugInfo> out;
  for (const auto& path : unreadable_hit_)
    out.push_back({path, kDebugUnreadable, "", unreadable_.at(path)});
  for (const auto& [path, has_lines] : module_debug_) {
    ModuleDebugInfo info{path, kDebugNone, "", ""};
    auto mod = modules_.find(path);
    auto search = searches_.find(path);
    Dwarf_Addr bias = 0;
    if (mod == modules_.end()) {
      info.detail = "not a module of this process's recorded maps";
    } else if (dwfl_module_getdwarf(mod->second, &bias)) {
      // (has_lines false here: some of its code, hand-written assembly, has no DWARF.)
      const bool separate = search != searches_.end() && !search->second.source.empty();
      info.source = separate ? search->second.source : kDebugInBinary;
      if (separate) info.file = search->second.path;
      // Read from elsewhere than its path (found by build ID): say where.
      if (auto h = host_files_.find(path); h != host_files_.end() && h->second.path != path)
        info.detail = h->second.detail;
    } else {
      std::vector<std::string> why = {"no DWARF in the module"};
      if (search != searches_.end()) why.insert(why.end(), search->second.tried.begin(), search->second.tried.end());
      info.detail = absl::StrJoin(why, "; ");
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace ccprof::profiler
