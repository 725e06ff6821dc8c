#include "profiler/symbol_table.h"

#include <elfutils/libdwfl.h>

#include <algorithm>

namespace ccprof::profiler {
namespace {

// libdwfl's ranking of bindings (dwfl_module_addrsym.c binding_value).
int binding_value(const GElf_Sym& s) {
  switch (GELF_ST_BIND(s.st_info)) {
    case STB_GLOBAL: return 3;
    case STB_WEAK: return 2;
    case STB_LOCAL: return 1;
    default: return 0;
  }
}

}  // namespace

SymbolTable::SymbolTable(Dwfl_Module* mod) {
  const int n = mod ? dwfl_module_getsymtab(mod) : -1;
  if (n <= 0) return;
  const int first_global = dwfl_module_getsymtab_first_global(mod);
  if (first_global < 0) return;
  // Index 0 is the null symbol; with only a .dynsym read from the program headers
  // first_global is 0 and every symbol is searched as a global (as libdwfl does).
  for (int i = 1; i < n; ++i) {
    GElf_Sym sym;
    GElf_Addr value = 0;
    GElf_Word shndx = 0;
    const char* name = dwfl_module_getsym_info(mod, i, &sym, &value, &shndx, nullptr, nullptr);
    // The symbols libdwfl considers (search_table's filter).
    if (!name || !name[0] || sym.st_shndx == SHN_UNDEF) continue;
    const int type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_SECTION || type == STT_FILE || type == STT_TLS) continue;
    Part& part = (first_global == 0 || i >= first_global) ? globals_ : locals_;
    if (sym.st_size == 0) {
      part.sizeless.push_back(value);
      continue;
    }
    part.entries.push_back({value, value + sym.st_size, static_cast<uint32_t>(i), name, sym});
  }
  globals_.finish();
  locals_.finish();
}

void SymbolTable::Part::finish() {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.value < b.value; });
  max_end.resize(entries.size());
  uint64_t m = 0;
  for (size_t i = 0; i < entries.size(); ++i) max_end[i] = m = std::max(m, entries[i].end);
  std::sort(sizeless.begin(), sizeless.end());
}

const SymbolTable::Entry* SymbolTable::Part::best(uint64_t addr) const {
  auto it = std::upper_bound(entries.begin(), entries.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.value; });
  // Candidates: entries at or below addr whose range reaches past it; max_end bounds
  // how far back one can start (symbols rarely nest, so this is a step or two).
  std::vector<const Entry*> hits;
  for (size_t i = static_cast<size_t>(it - entries.begin()); i-- > 0 && max_end[i] > addr;)
    if (entries[i].end > addr) hits.push_back(&entries[i]);
  if (hits.empty()) return nullptr;
  // libdwfl's choice depends on the order it meets them: its table order.
  std::sort(hits.begin(), hits.end(), [](const Entry* a, const Entry* b) { return a->index < b->index; });
  const Entry* c = nullptr;
  for (const Entry* e : hits) {
    const int cb = c ? binding_value(c->sym) : 0, eb = binding_value(e->sym);
    if (!c || c->value < e->value || cb < eb) {
      c = e;
    } else if (c->value == e->value && ((c->sym.st_size > e->sym.st_size && cb <= eb) ||
                                        (c->sym.st_size >= e->sym.st_size && cb < eb))) {
      c = e;
    }
  }
  return c;
}

uint64_t SymbolTable::Part::max_end_below(uint64_t addr) const {
  auto it = std::upper_bound(entries.begin(), entries.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.value; });
  return it == entries.begin() ? 0 : max_end[static_cast<size_t>(it - entries.begin()) - 1];
}

bool SymbolTable::Part::sizeless_within(uint64_t from, uint64_t to) const {
  auto it = std::lower_bound(sizeless.begin(), sizeless.end(), from);
  return it != sizeless.end() && *it <= to;
}

SymbolTable::Answer SymbolTable::lookup(uint64_t addr, SymbolHit* out) const {
  const Entry* e = globals_.best(addr);
  if (!e) {
    // libdwfl searches the locals only when no global has a sized symbol there and no
    // global sizeless symbol sits exactly at addr (then that one is its answer).
    if (std::binary_search(globals_.sizeless.begin(), globals_.sizeless.end(), addr)) return Answer::kAskLibdwfl;
    e = locals_.best(addr);
  }
  if (e) {
    out->name = e->name;
    out->offset = addr - e->value;
    out->sym = e->sym;
    return Answer::kSymbol;
  }
  // No sized symbol: libdwfl falls back to the closest sizeless one at or below addr,
  // but only one at or above the end of every symbol it met below addr (its min_label,
  // at least the globals' sized ends). None in that range: it names nothing.
  const uint64_t floor = globals_.max_end_below(addr);
  if (globals_.sizeless_within(floor, addr) || locals_.sizeless_within(floor, addr)) return Answer::kAskLibdwfl;
  return Answer::kNone;
}

const char* symbol_at(Dwfl_Module* mod, const SymbolTable* table, uint64_t addr, GElf_Off* offset, GElf_Sym* sym) {
  SymbolHit h;
  switch (table ? table->lookup(addr, &h) : SymbolTable::Answer::kAskLibdwfl) {
    case SymbolTable::Answer::kSymbol:
      *offset = h.offset;
      *sym = h.sym;
      return h.name;
    case SymbolTable::Answer::kNone:
      return nullptr;
    case SymbolTable::Answer::kAskLibdwfl:
      break;
  }
  return dwfl_module_addrinfo(mod, addr, offset, sym, nullptr, nullptr, nullptr);
}

}  // namespace ccprof::profiler
