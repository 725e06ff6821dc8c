#pragma once
// SymbolTable: one module's ELF symbols sorted by address, built once per module, so
// that address -> symbol costs O(log n) instead of libdwfl's scan of every symbol per
// dwfl_module_addrinfo call (~1 ms per call in a binary of tens of thousands of
// symbols: most of the decoder's and the symbolizer's time on MariaDB, issue 13).
//
// It reads the same tables libdwfl does (dwfl_module_getsym_info: .symtab, or .dynsym
// and the MiniDebugInfo table) and picks among the sized symbols that contain the
// address exactly as libdwfl's __libdwfl_addrsym does (globals first; the closest start,
// a stronger binding, then the smaller size; table order breaks ties), so the names do
// not change. It also knows when libdwfl names nothing: no sized symbol covers the
// address and no sizeless one lies between the end of the last sized symbol below it
// and it (the code of a stripped binary's hidden functions, padding between functions).
// Where libdwfl could answer with a sizeless symbol (an assembly label, `_init`) the
// table does not decide and the caller asks libdwfl: those lookups are few.
#include <cstdint>
#include <vector>

#include <gelf.h>

typedef struct Dwfl_Module Dwfl_Module;

namespace ccprof::profiler {

struct SymbolHit {
  const char* name = nullptr;  // owned by libdwfl (valid while the module is)
  uint64_t offset = 0;         // address - symbol's value
  GElf_Sym sym{};              // st_size, st_info as the ELF has them
};

class SymbolTable {
 public:
  explicit SymbolTable(Dwfl_Module* mod);
  enum class Answer { kSymbol, kNone, kAskLibdwfl };
  // kSymbol: `out` is the sized symbol libdwfl names for `addr`; kNone: libdwfl names
  // nothing there; kAskLibdwfl: its answer may be a sizeless symbol (call
  // dwfl_module_addrinfo).
  Answer lookup(uint64_t addr, SymbolHit* out) const;
  size_t size() const { return globals_.entries.size() + locals_.entries.size(); }

 private:
  struct Entry {
    uint64_t value = 0;  // adjusted address (load bias applied)
    uint64_t end = 0;    // value + st_size
    uint32_t index = 0;  // in libdwfl's symbol numbering (its search order)
    const char* name = nullptr;
    GElf_Sym sym{};
  };
  struct Part {
    std::vector<Entry> entries;   // sized symbols, by value
    std::vector<uint64_t> max_end;  // max end of entries[0..i]
    std::vector<uint64_t> sizeless;  // values of the sizeless symbols, sorted
    void finish();
    // The libdwfl choice among this part's sized symbols containing addr, or nullptr.
    const Entry* best(uint64_t addr) const;
    uint64_t max_end_below(uint64_t addr) const;  // of the sized entries at or below addr; 0 if none
    bool sizeless_within(uint64_t from, uint64_t to) const;
  };
  Part globals_, locals_;
};

// Address -> symbol through `table` where it answers, else libdwfl (same contract as
// dwfl_module_addrinfo without the section outputs). `table` may be null.
const char* symbol_at(Dwfl_Module* mod, const SymbolTable* table, uint64_t addr, GElf_Off* offset, GElf_Sym* sym);

}  // namespace ccprof::profiler
