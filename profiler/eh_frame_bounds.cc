#include "profiler/eh_frame_bounds.h"

#include <elfutils/libdw.h>
#include <gelf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

namespace ccprof::profiler {
namespace {

// DW_EH_PE_* pointer encodings (LSB Core, "DWARF Extensions"): low nibble = format,
// bits 4-6 = what the value is relative to.
constexpr uint8_t kPeOmit = 0xff;
constexpr uint8_t kPeFormatMask = 0x0f;
constexpr uint8_t kPeApplMask = 0x70;
constexpr uint8_t kPePcrel = 0x10;

// Size in bytes of an encoded value of format `enc`, 0 when unknown (uleb/sleb are
// not used for FDE addresses by any toolchain we know; they are rejected).
size_t encoded_size(uint8_t enc) {
  switch (enc & kPeFormatMask) {
    case 0x00: return 8;  // absptr on x86-64
    case 0x02: case 0x0a: return 2;
    case 0x03: case 0x0b: return 4;
    case 0x04: case 0x0c: return 8;
    default: return 0;
  }
}

bool read_encoded(const uint8_t* p, const uint8_t* end, uint8_t enc, uint64_t field_vaddr, bool apply,
                  uint64_t* out) {
  const size_t n = encoded_size(enc);
  if (n == 0 || p + n > end) return false;
  uint64_t v = 0;
  switch (enc & kPeFormatMask) {
    case 0x00: case 0x04: case 0x0c: memcpy(&v, p, 8); break;
    case 0x02: { uint16_t u; memcpy(&u, p, 2); v = u; break; }
    case 0x03: { uint32_t u; memcpy(&u, p, 4); v = u; break; }
    case 0x0a: { int16_t s; memcpy(&s, p, 2); v = static_cast<uint64_t>(static_cast<int64_t>(s)); break; }
    case 0x0b: { int32_t s; memcpy(&s, p, 4); v = static_cast<uint64_t>(static_cast<int64_t>(s)); break; }
  }
  if (apply) {
    switch (enc & kPeApplMask) {
      case 0x00: break;
      case kPePcrel: v += field_vaddr; break;
      default: return false;  // datarel/textrel/funcrel: not used in .eh_frame FDEs on x86-64
    }
  }
  *out = v;
  return true;
}

// The FDE pointer encoding a CIE declares with its 'R' augmentation (absptr without).
bool fde_encoding(const Dwarf_CIE& cie, uint8_t* enc) {
  *enc = 0x00;
  const char* aug = cie.augmentation;
  if (!aug || aug[0] != 'z') return aug && aug[0] == '\0';
  const uint8_t* d = cie.augmentation_data;
  const uint8_t* end = d + cie.augmentation_data_size;
  for (const char* c = aug + 1; *c; ++c) {
    switch (*c) {
      case 'R':
        if (d >= end) return false;
        *enc = *d++;
        break;
      case 'P': {
        if (d >= end) return false;
        const uint8_t penc = *d++;
        const size_t n = encoded_size(penc);
        if (n == 0) return false;
        d += n;
        break;
      }
      case 'L':
        ++d;
        break;
      case 'S': case 'B':
        break;
      default:
        return false;
    }
  }
  return d <= end;
}

}  // namespace

std::vector<FunctionBounds> read_eh_frame_functions(Elf* elf) {
  std::vector<FunctionBounds> out;
  size_t shstrndx = 0;
  if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0) return out;
  Elf_Scn* scn = nullptr;
  GElf_Shdr shdr;
  Elf_Scn* eh = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name && strcmp(name, ".eh_frame") == 0 && shdr.sh_type != SHT_NOBITS) {
      eh = scn;
      break;
    }
  }
  if (!eh) return out;
  Elf_Data* data = elf_getdata(eh, nullptr);
  const unsigned char* ident = reinterpret_cast<const unsigned char*>(elf_getident(elf, nullptr));
  if (!data || !data->d_buf || !ident) return out;
  const auto* base = static_cast<const uint8_t*>(data->d_buf);
  std::map<Dwarf_Off, uint8_t> cie_encoding;  // CIE offset -> its FDE pointer encoding (kPeOmit: not understood)
  Dwarf_Off off = 0, next = 0;
  Dwarf_CFI_Entry entry;
  while (dwarf_next_cfi(ident, data, true, off, &next, &entry) == 0) {
    if (dwarf_cfi_cie_p(&entry)) {
      uint8_t enc = 0;
      cie_encoding[off] = fde_encoding(entry.cie, &enc) ? enc : kPeOmit;
    } else {
      auto it = cie_encoding.find(entry.fde.CIE_pointer);
      if (it != cie_encoding.end() && it->second != kPeOmit) {
        const uint8_t enc = it->second;
        const uint8_t* p = entry.fde.start;
        uint64_t start = 0, range = 0;
        const uint64_t field_vaddr = shdr.sh_addr + static_cast<uint64_t>(p - base);
        if (read_encoded(p, entry.fde.end, enc, field_vaddr, true, &start) &&
            read_encoded(p + encoded_size(enc), entry.fde.end, enc & kPeFormatMask, 0, false, &range) && range > 0)
          out.push_back({start, start + range});
      }
    }
    if (next == static_cast<Dwarf_Off>(-1) || next <= off) break;
    off = next;
  }
  std::sort(out.begin(), out.end(), [](const FunctionBounds& a, const FunctionBounds& b) { return a.start < b.start; });
  return out;
}

const FunctionBounds* find_function_bounds(const std::vector<FunctionBounds>& sorted, uint64_t addr) {
  auto it = std::upper_bound(sorted.begin(), sorted.end(), addr,
                             [](uint64_t a, const FunctionBounds& b) { return a < b.start; });
  if (it == sorted.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

}  // namespace ccprof::profiler
