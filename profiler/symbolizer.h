#pragma once
// Symbolizer: addresses of one target process -> function, file, line (code) or
// symbol / region (data), using libdw over the ELF files named in the recorded maps.
// Offline: reads files from disk, never the live process, so `ccprof report` works
// without root after the target exited. Results are cached per address.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "profiler/debuginfo_lookup.h"
#include "profiler/eh_frame_bounds.h"
#include "profiler/finding.h"
#include "profiler/model_names.h"
#include "profiler/symbol_table.h"

typedef struct Dwfl Dwfl;
typedef struct Dwfl_Module Dwfl_Module;

namespace ccprof::profiler {

struct CodeLocation {
  std::string function;        // outermost user-visible function (inlined frames resolved)
  std::string file;            // call-site file in that function (system headers skipped)
  int line = 0;
  std::string module;          // object path
  uint64_t module_offset = 0;  // address relative to the module's load base
  bool has_debug_info = false;
  bool in_system_library = false;  // libc, libstdc++, ld.so, libpthread, libpython...
  std::vector<std::string> inline_chain;  // innermost first, e.g. {"std::mutex::lock", "count_words"}
  // The same levels with their own source line (for exports that keep inlined frames).
  struct InlineLevel { std::string function, file; int line = 0; };
  std::vector<InlineLevel> inline_levels;
};

struct DataLocation {
  std::string name;            // "g_table_mutex", "g_counters+16", "" when no symbol
  uint64_t symbol_start = 0, symbol_size = 0;
  std::string region;          // "global" | "heap" | "stack" | "mapped file" | "anonymous" | "tls" | "unknown"
  std::string region_detail;   // module and section, "[heap]", "stack of thread 4243", ...
  std::string module;
};

// Where one module's debug info came from, or why there was none (findings.json
// "debug_info"): `source` is one of the kDebug* names of debuginfo_lookup.h.
struct ModuleDebugInfo {
  std::string module;  // path as the target mapped it
  std::string source;
  std::string file;    // the separate debug file used, if any
  std::string detail;  // for "none" and "module unreadable": what was looked for, why
};

class Symbolizer {
 public:
  // Builds the address space of `proc` from its recorded maps, reading each file through
  // `files` (the descriptors the agent opened while the target lived) where it has it,
  // else at its path on this host.
  explicit Symbolizer(const ProcessInfo& proc, const model::TargetFiles* files = nullptr);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // `pc` is an instruction address (for return addresses pass pc - 1).
  const CodeLocation& code(uint64_t pc);
  DataLocation data(uint64_t addr);
  // The libdw session (for the unwinder and DWARF type lookups); owned by this object.
  Dwfl* dwfl() const { return dwfl_; }
  const ProcessInfo& process() const { return proc_; }
  const MemoryMap* map_of(uint64_t addr) const;
  // Reads `len` bytes of the target's code/data at `addr` from the mapped file on disk.
  // Returns false when the address is not file-backed or the file cannot be read.
  bool read_file_bytes(uint64_t addr, size_t len, std::vector<uint8_t>& out) const;

  // The symbol libdwfl's dwfl_module_addrinfo names for `addr` in `mod`, answered from
  // the module's sorted table (built on first use) where it can (symbol_table.h).
  const char* symbol(Dwfl_Module* mod, uint64_t addr, GElf_Off* offset, GElf_Sym* sym);

  // State the unwinder attaches to this Dwfl once (dwfl_attach_state allows one).
  std::shared_ptr<void> unwind_slot;
  // data_naming.cc's per-process cache of DWARF scopes by instruction.
  std::shared_ptr<void> naming_slot;

  // Counters of what could not be resolved (shown as losses).
  uint64_t unresolved_code() const { return unresolved_code_; }
  uint64_t missing_debug_info() const { return missing_debug_; }
  std::vector<std::string> modules_without_debug_info() const;
  // Modules whose code was looked up but whose file could not be read at all.
  std::vector<std::string> unreadable_modules() const;
  // Those of them left unread because the file at their path is another build (its
  // build ID is not the recorded one) and none with theirs was found.
  std::vector<std::string> refused_modules() const;
  // Per module whose code was looked up: where its debug info came from.
  std::vector<ModuleDebugInfo> debug_info_sources() const;

 private:
  const ProcessInfo& proc_;
  const model::TargetFiles* files_ = nullptr;
  Dwfl* dwfl_ = nullptr;
  // Per module path: what the debug-info lookup is told (the module's libdwfl userdata).
  std::map<std::string, DebuginfoSearch> searches_;
  std::map<std::string, Dwfl_Module*> modules_;       // by path
  std::map<std::string, std::string> unreadable_;     // path -> why its file could not be opened
  std::set<std::string> unreadable_hit_;              // those whose code was looked up
  // `ccprof report` of a recording: per module path recorded with a build ID, the file
  // of that build ID on this host (at the path or found by build ID) and how it was found.
  struct HostFile { std::string path, detail; };
  std::map<std::string, HostFile> host_files_;
  std::set<std::string> build_id_differs_;  // paths whose file here is another build
  // An fd the caller owns of the file `m` maps, or the error.
  absl::StatusOr<int> open_mapped_file(const MemoryMap& m) const;
  std::unordered_map<uint64_t, CodeLocation> code_cache_;
  std::unordered_map<Dwfl_Module*, std::unique_ptr<SymbolTable>> symbol_tables_;
  std::unordered_map<std::string, bool> module_debug_;
  // Per module (by load base): .eh_frame function ranges, for code without symbols.
  std::unordered_map<uint64_t, std::vector<FunctionBounds>> eh_frames_;
  std::string eh_frame_function(Dwfl_Module* mod, uint64_t pc, const std::string& module);
  uint64_t unresolved_code_ = 0, missing_debug_ = 0;
};

// What identifies the function of a code location, for rules that group the
// instructions of one function: its name, or for code without debug info the
// function the inline chain names (its symbol, or for stripped code the .eh_frame
// function "module+0xSTART"; `function` is then this instruction's module+offset).
inline const std::string& function_identity(const CodeLocation& c) {
  return c.file.empty() && !c.inline_chain.empty() && !c.inline_chain.back().empty() ? c.inline_chain.back()
                                                                                       : c.function;
}

// A finding's location from a symbolized code location.
SourceLocation to_source_location(const CodeLocation& loc, std::string role, double share = 0,
                                  uint64_t address = 0);
// A finding's location that is a file, not an instruction (a script, a config file).
SourceLocation file_location(std::string file, std::string function, std::string role, double share = 0);

// Whether a path is a system library whose frames are skipped when looking for the
// user's call site (libc, libstdc++, libabsl_*, libtbb, ld.so, libgcc, libpython: the
// list is profiler/lock_libraries.cc).
bool is_system_object(const std::string& path);
// Whether a source file is a library's (/usr/include/..., Rust std's locks, a cargo
// registry's parking_lot), skipped likewise.
bool is_system_source(const std::string& file);

}  // namespace ccprof::profiler
