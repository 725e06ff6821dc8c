// A target's corrupt unwind or debug sections must cost that module's frames and
// symbols, never crash ccprof (which runs as root). 12 zero bytes in .eh_frame made
// dwfl_errmsg() return NULL and ccprof crash in strlen under the unwinder. Here a copy
// of this test binary is corrupted, a stack captured in this process is unwound against
// the copy, and every symbolizer path is run over it.
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "agent/proc.h"
#include "profiler/data_naming.h"
#include "profiler/decode_access.h"
#include "profiler/unwinder.h"
#include "tests/unit/stack_capture.h"

namespace ccprof::profiler {
namespace {

struct Section {
  uint64_t offset = 0, size = 0;
};

Section find_section(const std::string& path, const char* name) {
  Section out;
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  size_t shstrndx = 0;
  if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      const char* n = elf_strptr(elf, shstrndx, sh.sh_name);
      if (n && strcmp(n, name) == 0) out = {sh.sh_offset, sh.sh_size};
    }
  }
  if (elf) elf_end(elf);
  close(fd);
  return out;
}

// A copy of this test binary with `len` bytes at `offset` of section `name` replaced.
std::string corrupted_copy(const std::string& tag, const char* name, uint64_t at, const std::vector<uint8_t>& bytes) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  const std::string copy = std::string(::testing::TempDir()) + "/corrupt-" + tag + "-" + std::to_string(getpid());
  std::filesystem::copy_file(self, copy, std::filesystem::copy_options::overwrite_existing);
  Section s = find_section(copy, name);
  EXPECT_GT(s.size, at + bytes.size()) << name;
  int fd = open(copy.c_str(), O_WRONLY);
  EXPECT_EQ(pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(s.offset + at)),
            static_cast<ssize_t>(bytes.size()));
  close(fd);
  return copy;
}

// This process's maps with the test binary's mappings pointing at `copy`.
ProcessInfo process_with_binary(const std::string& copy) {
  ProcessInfo proc;
  proc.pid = static_cast<uint32_t>(getpid());
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  const auto maps = agent::read_maps(proc.pid);
  for (auto m : *maps) {
    if (m.path == self) m.path = copy;
    proc.maps.push_back(m);
  }
  return proc;
}

// Every analysis path over the corrupt module: unwinding, code and data symbols,
// variable naming, instruction decoding. Returns the unwind for the caller to check.
UnwindResult exercise(const std::string& copy) {
  ProcessInfo proc = process_with_binary(copy);
  Symbolizer sym(proc);
  UnwindResult r = unwind_stack(sym, g_captured);
  for (const auto& f : r.frames) EXPECT_FALSE(f.loc.function.empty());
  if (!r.complete) EXPECT_FALSE(r.error.empty());
  sym.code(reinterpret_cast<uint64_t>(&middle_frame));
  static int some_global = 0;
  sym.data(reinterpret_cast<uint64_t>(&some_global));
  data_member_name(sym, reinterpret_cast<uint64_t>(&some_global));
  describe_data(sym, reinterpret_cast<uint64_t>(&some_global));
  AccessDecoder dec(sym);
  dec.decode(reinterpret_cast<uint64_t>(&middle_frame) + 8, g_captured.regs, 0);
  // Other modules keep their symbols: libc's memcpy still resolves.
  const CodeLocation& libc = sym.code(reinterpret_cast<uint64_t>(&memcpy));
  EXPECT_NE(libc.module.find("libc"), std::string::npos) << libc.module;
  return r;
}

class CorruptElf : public ::testing::Test {
 protected:
  void SetUp() override { middle_frame(); }
  void TearDown() override {
    for (const auto& p : copies_) unlink(p.c_str());
  }
  std::string corrupt(const std::string& tag, const char* section, uint64_t at, std::vector<uint8_t> bytes) {
    copies_.push_back(corrupted_copy(tag, section, at, bytes));
    return copies_.back();
  }
  std::vector<std::string> copies_;
};

TEST_F(CorruptElf, TheUncorruptedCopyUnwindsThroughTheCaller) {
  const std::string copy = corrupt("clean", ".eh_frame", 0, {});
  UnwindResult r = exercise(copy);
  bool found = false;
  for (const auto& f : r.frames) found |= f.loc.function.find("middle_frame") != std::string::npos;
  EXPECT_TRUE(found) << r.error;
}

TEST_F(CorruptElf, TwelveZeroBytesInTheUnwindTable) {
  // The search table of .eh_frame_hdr starts at byte 12; .eh_frame with its first CIE.
  exercise(corrupt("hdr-table", ".eh_frame_hdr", 12, std::vector<uint8_t>(12, 0)));
  exercise(corrupt("hdr-head", ".eh_frame_hdr", 0, std::vector<uint8_t>(12, 0)));
  exercise(corrupt("cie", ".eh_frame", 0, std::vector<uint8_t>(12, 0)));
  exercise(corrupt("fde", ".eh_frame", 24, std::vector<uint8_t>(12, 0)));
  exercise(corrupt("ff", ".eh_frame", 0, std::vector<uint8_t>(12, 0xff)));
}

TEST_F(CorruptElf, RandomBytesInUnwindAndDebugSections) {
  std::mt19937 rng(15);  // fixed seed: the same corruptions every run
  const char* sections[] = {".eh_frame", ".eh_frame_hdr", ".debug_info", ".debug_abbrev", ".debug_line",
                            ".debug_str", ".symtab", ".strtab"};
  int n = 0;
  for (const char* s : sections) {
    const Section sec = find_section(std::filesystem::read_symlink("/proc/self/exe"), s);
    if (sec.size < 64) continue;
    for (int i = 0; i < 3; ++i) {
      std::vector<uint8_t> junk(16);
      for (auto& b : junk) b = static_cast<uint8_t>(rng());
      const uint64_t at = rng() % (sec.size - junk.size());
      exercise(corrupt(std::string(s + 1) + std::to_string(i), s, at, junk));
      unlink(copies_.back().c_str());
      copies_.pop_back();
      ++n;
    }
  }
  EXPECT_GE(n, 15);
}

}  // namespace
}  // namespace ccprof::profiler
