// SymbolTable answers address -> symbol as libdwfl's dwfl_module_addrinfo does, on the
// real modules of this process (the test binary with its .symtab; Debian's stripped
// libc, libstdc++, libdw... with only .dynsym) and on a stripped fixture library.
#include "profiler/symbol_table.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "self_symbolizer.h"

extern "C" {
// A sized function and, right after it, code only a sizeless label names (assembly).
__attribute__((noinline, used)) int symbol_table_test_sized(int x) {
  asm volatile("" ::: "memory");
  return x + 11;
}
}
asm(".text\n"
    ".globl symbol_table_test_label\n"
    ".type symbol_table_test_label, @function\n"  // no .size: a sizeless symbol
    "symbol_table_test_label:\n"
    "  nop\n  nop\n  nop\n  ret\n");
extern "C" void symbol_table_test_label();

namespace ccprof::profiler {
namespace {

struct Probe {
  uint64_t addr;
  std::string why;
};

std::vector<Dwfl_Module*> modules_of(Dwfl* dwfl) {
  std::vector<Dwfl_Module*> out;
  dwfl_getmodules(
      dwfl,
      [](Dwfl_Module* m, void**, const char*, Dwarf_Addr, void* arg) -> int {
        static_cast<std::vector<Dwfl_Module*>*>(arg)->push_back(m);
        return DWARF_CB_OK;
      },
      &out, 0);
  return out;
}

// Whether the module's ELF has a .symtab (else libdwfl reads its .dynsym).
bool has_symtab(Dwfl_Module* mod) {
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(mod, &bias);
  size_t shstrndx = 0;
  if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0) return false;
  for (Elf_Scn* s = nullptr; (s = elf_nextscn(elf, s));) {
    GElf_Shdr sh;
    if (gelf_getshdr(s, &sh) && sh.sh_type == SHT_SYMTAB) return true;
  }
  return false;
}

// Addresses around symbols (before, at, inside, last byte, just past: the gap between
// functions) and across the PLT sections. libdwfl scans every symbol per lookup, so a
// large table is probed at a spread of ~600 of its symbols.
std::vector<Probe> probes_of(Dwfl_Module* mod) {
  std::vector<Probe> out;
  Dwarf_Addr low = 0, high = 0;
  dwfl_module_info(mod, nullptr, &low, &high, nullptr, nullptr, nullptr, nullptr);
  const int n = dwfl_module_getsymtab(mod);
  const int stride = std::max(1, n / 600);
  for (int i = 1; i < n; i += stride) {
    GElf_Sym sym;
    GElf_Addr v = 0;
    const char* name = dwfl_module_getsym_info(mod, i, &sym, &v, nullptr, nullptr, nullptr);
    if (!name || v < low || v >= high) continue;
    const std::string what = std::string(name) + (sym.st_size ? "" : " (size 0)");
    for (uint64_t a : {v - 1, v, v + sym.st_size / 2, v + sym.st_size - 1, v + sym.st_size, v + sym.st_size + 3})
      if (a >= low && a < high) out.push_back({a, what});
  }
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(mod, &bias);
  size_t shstrndx = 0;
  if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0)
    for (Elf_Scn* s = nullptr; (s = elf_nextscn(elf, s));) {
      GElf_Shdr sh;
      const char* sn = gelf_getshdr(s, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : nullptr;
      if (!sn || strncmp(sn, ".plt", 4) != 0 || !(sh.sh_flags & SHF_ALLOC)) continue;
      for (uint64_t off = 0; off < sh.sh_size; off += 8) out.push_back({sh.sh_addr + bias + off, sn});
    }
  return out;
}

struct Compared {
  size_t probes = 0, answered_by_table = 0, none = 0, mismatches = 0;
};

// symbol_at() with the table against libdwfl alone, at every probe.
Compared compare(Dwfl_Module* mod, const std::vector<Probe>& probes) {
  SymbolTable table(mod);
  Compared c;
  for (const auto& p : probes) {
    GElf_Off want_off = 0, got_off = 0;
    GElf_Sym want_sym{}, got_sym{};
    const char* want = dwfl_module_addrinfo(mod, p.addr, &want_off, &want_sym, nullptr, nullptr, nullptr);
    SymbolHit h;
    const SymbolTable::Answer a = table.lookup(p.addr, &h);
    if (a != SymbolTable::Answer::kAskLibdwfl) ++c.answered_by_table;
    if (a == SymbolTable::Answer::kNone) ++c.none;
    const char* got = symbol_at(mod, &table, p.addr, &got_off, &got_sym);
    ++c.probes;
    const bool same = (!want && !got) || (want && got && strcmp(want, got) == 0 && want_off == got_off &&
                                          want_sym.st_size == got_sym.st_size && want_sym.st_info == got_sym.st_info);
    if (!same) {
      if (++c.mismatches <= 5)
        ADD_FAILURE() << std::hex << "0x" << p.addr << " (" << p.why << "): libdwfl " << (want ? want : "(none)")
                      << "+0x" << want_off << ", table " << (got ? got : "(none)") << "+0x" << got_off;
    }
  }
  return c;
}

class SymbolTableTest : public SelfSymbolizerTest {
 protected:
  void SetUp() override {
    // The stripped fixture (only .dynsym, two exported functions) mapped before the maps are read.
    stripped_ = dlopen(CCPROF_BUILD_DIR "/decode_fixtures/libworker_stripped.so", RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(stripped_, nullptr) << dlerror();
    SelfSymbolizerTest::SetUp();
  }
  void TearDown() override {
    sym_.reset();
    if (stripped_) dlclose(stripped_);
  }
  Dwfl_Module* module_of(const void* p) { return dwfl_addrmodule(sym_->dwfl(), reinterpret_cast<uint64_t>(p)); }
  void* stripped_ = nullptr;
};

TEST_F(SymbolTableTest, AgreesWithLibdwflOnEveryModuleOfThisProcess) {
  size_t dynsym_only = 0, dynsym_only_answered = 0, total = 0, answered = 0, none = 0;
  for (Dwfl_Module* mod : modules_of(sym_->dwfl())) {
    const char* name = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    SCOPED_TRACE(name ? name : "?");
    const Compared c = compare(mod, probes_of(mod));
    EXPECT_EQ(c.mismatches, 0u) << "of " << c.probes << " probes";
    total += c.probes;
    answered += c.answered_by_table;
    none += c.none;
    if (!has_symtab(mod) && c.probes > 0) {
      ++dynsym_only;
      dynsym_only_answered += c.answered_by_table;
    }
  }
  // Not vacuous: most lookups are answered by the table, not handed back to libdwfl,
  // and stripped modules (only .dynsym) were among them.
  EXPECT_GT(total, 5000u);
  EXPECT_GT(answered, total / 2) << answered << " of " << total;
  EXPECT_GE(dynsym_only, 2u);  // libc, libstdc++, the stripped fixture, ...
  EXPECT_GT(dynsym_only_answered, 0u);
  // Addresses between functions and in stripped code: the table itself says "none".
  EXPECT_GT(none, 0u);
}

TEST_F(SymbolTableTest, StrippedLibraryNamesItsExportedFunctionsFromDynsym) {
  void* fn = dlsym(stripped_, "worker_accumulate");
  ASSERT_NE(fn, nullptr);
  Dwfl_Module* mod = module_of(fn);
  ASSERT_NE(mod, nullptr);
  EXPECT_FALSE(has_symtab(mod));
  SymbolTable table(mod);
  SymbolHit h;
  // worker_accumulate is a 2-byte tail jump into a hidden function.
  ASSERT_EQ(table.lookup(reinterpret_cast<uint64_t>(fn) + 1, &h), SymbolTable::Answer::kSymbol);
  EXPECT_STREQ(h.name, "worker_accumulate");
  EXPECT_EQ(h.offset, 1u);
  EXPECT_EQ(h.sym.st_size, 2u);
  EXPECT_EQ(GELF_ST_TYPE(h.sym.st_info), STT_FUNC);
  // Past it: code of hidden functions, which no symbol names (libdwfl neither).
  EXPECT_EQ(table.lookup(reinterpret_cast<uint64_t>(fn) + 2, &h), SymbolTable::Answer::kNone);
  GElf_Off off = 0;
  GElf_Sym s{};
  EXPECT_EQ(dwfl_module_addrinfo(mod, reinterpret_cast<uint64_t>(fn) + 2, &off, &s, nullptr, nullptr, nullptr), nullptr);
  // The hidden (static) functions have no symbol at all in a stripped library: past the
  // exported one, neither the table nor libdwfl names anything sized.
  EXPECT_EQ(compare(mod, probes_of(mod)).mismatches, 0u);
}

TEST_F(SymbolTableTest, ASizelessLabelIsLeftToLibdwfl) {
  const auto label = reinterpret_cast<uint64_t>(&symbol_table_test_label);
  Dwfl_Module* mod = module_of(reinterpret_cast<const void*>(label));
  ASSERT_NE(mod, nullptr);
  SymbolTable table(mod);
  SymbolHit h;
  // No sized symbol covers the label: the table does not decide ...
  EXPECT_EQ(table.lookup(label + 1, &h), SymbolTable::Answer::kAskLibdwfl);
  // ... and symbol_at() gives libdwfl's answer, the label itself.
  GElf_Off off = 0;
  GElf_Sym s{};
  const char* name = symbol_at(mod, &table, label + 1, &off, &s);
  ASSERT_NE(name, nullptr);
  EXPECT_STREQ(name, "symbol_table_test_label");
  EXPECT_EQ(off, 1u);
  EXPECT_EQ(s.st_size, 0u);
  // A sized function of the same module is the table's own answer, with libdwfl's offset.
  const auto sized = reinterpret_cast<uint64_t>(&symbol_table_test_sized);
  ASSERT_EQ(table.lookup(sized + 1, &h), SymbolTable::Answer::kSymbol);
  EXPECT_STREQ(h.name, "symbol_table_test_sized");
  EXPECT_EQ(h.offset, 1u);
}

TEST(SymbolTable, NoModuleNoSymbols) {
  SymbolTable table(nullptr);
  SymbolHit h;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.lookup(0x401000, &h), SymbolTable::Answer::kNone);
}

}  // namespace
}  // namespace ccprof::profiler
