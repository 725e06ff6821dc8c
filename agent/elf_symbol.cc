#include "agent/elf_symbol.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace ccprof::agent {

namespace {

// Calls `fn(elf, sym, versym)` for each defined symbol of `path`'s dynamic symbol table
// named `name` until it returns true; the open ELF is valid during the calls.
template <typename Fn>
bool for_each_dynsym_named(const std::string& path, const std::string& name, Fn fn) {
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  bool found = false;
  Elf_Scn *dynsym = nullptr, *versym = nullptr;
  for (Elf_Scn* s = elf ? elf_nextscn(elf, nullptr) : nullptr; s; s = elf_nextscn(elf, s)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(s, &sh)) continue;
    if (sh.sh_type == SHT_DYNSYM) dynsym = s;
    if (sh.sh_type == SHT_GNU_versym) versym = s;
  }
  GElf_Shdr dsh;
  if (dynsym && gelf_getshdr(dynsym, &dsh) && dsh.sh_entsize) {
    Elf_Data* syms = elf_getdata(dynsym, nullptr);
    Elf_Data* vers = versym ? elf_getdata(versym, nullptr) : nullptr;
    const size_t n = dsh.sh_size / dsh.sh_entsize;
    for (size_t i = 0; syms && i < n && !found; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(syms, static_cast<int>(i), &sym) || sym.st_shndx == SHN_UNDEF) continue;
      const char* sname = elf_strptr(elf, dsh.sh_link, sym.st_name);
      if (!sname || name != sname) continue;
      GElf_Versym v = 0;
      if (vers) gelf_getversym(vers, static_cast<int>(i), &v);
      found = fn(elf, sym, v);
    }
  }
  if (elf) elf_end(elf);
  close(fd);
  return found;
}

}  // namespace

absl::StatusOr<uint64_t> default_function_offset(const std::string& path, const std::string& name) {
  uint64_t out = 0;
  bool found = for_each_dynsym_named(path, name, [&](Elf* elf, const GElf_Sym& sym, GElf_Versym v) {
    if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || (v & 0x8000)) return false;  // hidden: not the default
    GElf_Shdr tsh;
    Elf_Scn* text = elf_getscn(elf, sym.st_shndx);
    if (!text || !gelf_getshdr(text, &tsh)) return false;
    out = sym.st_value - tsh.sh_addr + tsh.sh_offset;
    return true;
  });
  if (!found) return absl::NotFoundError(absl::StrCat(name, " is not exported by ", path));
  return out;
}

absl::StatusOr<ExportedSymbol> exported_symbol(const std::string& path, const std::string& name) {
  ExportedSymbol out;
  bool found = for_each_dynsym_named(path, name, [&](Elf* elf, const GElf_Sym& sym, GElf_Versym) {
    GElf_Ehdr eh;
    if (!gelf_getehdr(elf, &eh)) return false;
    out.value = sym.st_value;
    out.size = sym.st_size;
    out.position_independent = eh.e_type == ET_DYN;
    size_t n = 0;
    elf_getphdrnum(elf, &n);
    for (size_t i = 0; i < n; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) {
        out.first_load_vaddr = ph.p_vaddr & ~uint64_t{0xfff};
        break;
      }
    }
    return true;
  });
  if (!found) return absl::NotFoundError(absl::StrCat(name, " is not exported by ", path));
  return out;
}

}  // namespace ccprof::agent
