#include "model/elf_build_id.h"

#include <elf.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ccprof::model {
namespace {

// Bounds on what an untrusted header may make us read: real binaries have a dozen
// program headers and notes of a few hundred bytes.
constexpr size_t kMaxProgramHeaders = 1024;
constexpr uint64_t kMaxNoteBytes = 1 << 16;

bool read_exact(int fd, void* buf, size_t len, uint64_t off) {
  return pread(fd, buf, len, static_cast<off_t>(off)) == static_cast<ssize_t>(len);
}

// Notes are padded to the segment's alignment: 4, or 8 (x86-64's .note.gnu.property).
size_t align_up(uint64_t n, uint64_t a) { return static_cast<size_t>((n + a - 1) & ~(a - 1)); }

// The build ID in one PT_NOTE segment's bytes, or "".
std::string build_id_in_notes(const std::vector<unsigned char>& notes, uint64_t align) {
  size_t pos = 0;
  while (pos + sizeof(Elf64_Nhdr) <= notes.size()) {
    Elf64_Nhdr h;
    memcpy(&h, notes.data() + pos, sizeof h);
    pos += sizeof h;
    const size_t name_end = pos + align_up(h.n_namesz, align);
    if (h.n_namesz > notes.size() || name_end > notes.size()) return "";
    const size_t desc_end = name_end + align_up(h.n_descsz, align);
    if (h.n_descsz > notes.size() || desc_end > notes.size() + align) return "";
    if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && memcmp(notes.data() + pos, "GNU", 4) == 0 &&
        h.n_descsz > 0 && name_end + h.n_descsz <= notes.size()) {
      std::string hex;
      for (size_t i = 0; i < h.n_descsz; ++i) absl::StrAppend(&hex, absl::Hex(notes[name_end + i], absl::kZeroPad2));
      return hex;
    }
    pos = desc_end;
  }
  return "";
}

}  // namespace

std::string elf_build_id_hex(int fd) {
  Elf64_Ehdr eh;
  if (fd < 0 || !read_exact(fd, &eh, sizeof eh, 0)) return "";
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > kMaxProgramHeaders)
    return "";
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!read_exact(fd, &ph, sizeof ph, eh.e_phoff + i * sizeof ph)) return "";
    if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > kMaxNoteBytes) continue;
    std::vector<unsigned char> notes(ph.p_filesz);
    if (!read_exact(fd, notes.data(), notes.size(), ph.p_offset)) continue;
    if (std::string id = build_id_in_notes(notes, ph.p_align == 8 ? 8 : 4); !id.empty()) return id;
  }
  return "";
}

}  // namespace ccprof::model
