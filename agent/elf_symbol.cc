#include "agent/elf_symbol.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace ccprof::agent {

absl::StatusOr<uint64_t> default_function_offset(const std::string& path, const std::string& name) {
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  absl::StatusOr<uint64_t> out = absl::NotFoundError(absl::StrCat(name, " is not exported by ", path));
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
    for (size_t i = 0; syms && i < n; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(syms, static_cast<int>(i), &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
          sym.st_shndx == SHN_UNDEF)
        continue;
      const char* sname = elf_strptr(elf, dsh.sh_link, sym.st_name);
      if (!sname || name != sname) continue;
      GElf_Versym v = 0;
      if (vers && gelf_getversym(vers, static_cast<int>(i), &v) && (v & 0x8000)) continue;  // hidden: not the default
      GElf_Shdr tsh;
      Elf_Scn* text = elf_getscn(elf, sym.st_shndx);
      if (!text || !gelf_getshdr(text, &tsh)) continue;
      out = sym.st_value - tsh.sh_addr + tsh.sh_offset;
      break;
    }
  }
  if (elf) elf_end(elf);
  close(fd);
  return out;
}

}  // namespace ccprof::agent
