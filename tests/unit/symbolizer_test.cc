#include "profiler/symbolizer.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "agent/proc.h"
#include "model/elf_build_id.h"

int64_t g_symbolizer_test_array[8];

__attribute__((noinline)) int symbolizer_test_function(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}

// One- and two-letter C names, which are also Itanium type codes (w = wchar_t, i = int).
extern "C" {
__attribute__((noinline)) int w(int x) {
  asm volatile("" ::: "memory");
  return x + 7;
}
__attribute__((noinline)) int ab(int x) {
  asm volatile("" ::: "memory");
  return x * 5;
}
int64_t i[4];
}

namespace ccprof::profiler {
namespace {


ProcessInfo self() {
  ProcessInfo p;
  p.pid = static_cast<uint32_t>(getpid());
  p.maps = *agent::read_maps(p.pid);
  return p;
}

TEST(Symbolizer, NamesAFunctionWithFileAndLine) {
  ProcessInfo p = self();
  Symbolizer sym(p);
  auto addr = reinterpret_cast<uint64_t>(&symbolizer_test_function);
  const CodeLocation& loc = sym.code(addr);
  EXPECT_EQ(loc.function, "symbolizer_test_function");
  EXPECT_NE(loc.file.find("symbolizer_test.cc"), std::string::npos) << loc.file;
  EXPECT_GT(loc.line, 0);
  EXPECT_TRUE(loc.has_debug_info);
  EXPECT_FALSE(loc.in_system_library);
}

TEST(Symbolizer, SaysWhereEachModulesDebugInfoCameFromOrWhyNone) {
  ProcessInfo p = self();
  // A module whose file is gone: its addresses stay raw, and the report says why.
  MemoryMap gone;
  gone.start = 0x10000;
  gone.end = 0x11000;
  gone.perms = "r-xp";
  gone.path = "/nonexistent/ccprof-test/libgone.so";
  gone.inode = 42;
  p.maps.push_back(gone);
  Symbolizer sym(p);
  sym.code(reinterpret_cast<uint64_t>(&symbolizer_test_function));
  sym.code(reinterpret_cast<uint64_t>(&getpid));
  sym.code(gone.start + 0x10);
  EXPECT_EQ(sym.unreadable_modules(), std::vector<std::string>{gone.path});
  std::map<std::string, ModuleDebugInfo> by_module;
  for (const auto& m : sym.debug_info_sources()) by_module[m.module] = m;
  ASSERT_EQ(by_module.count(gone.path), 1u);
  EXPECT_EQ(by_module[gone.path].source, "module unreadable");
  EXPECT_NE(by_module[gone.path].detail.find("cannot open"), std::string::npos) << by_module[gone.path].detail;
  // This test binary carries its DWARF.
  std::string self_exe;
  for (const auto& [path, m] : by_module)
    if (path.find("symbolizer_test") != std::string::npos) self_exe = path;
  ASSERT_FALSE(self_exe.empty());
  EXPECT_EQ(by_module[self_exe].source, "in the binary");
  EXPECT_EQ(by_module[self_exe].file, "");
  // Debian's libc has none: either its -dbgsym is installed (found by build ID) or the
  // report names the build-ID path it looked for.
  for (const auto& [path, m] : by_module) {
    if (path.find("libc.so") == std::string::npos) continue;
    if (m.source == "none") {
      EXPECT_NE(m.detail.find("/usr/lib/debug/.build-id/"), std::string::npos) << m.detail;
    } else {
      EXPECT_TRUE(m.source == "build-id file" || m.source == ".gnu_debuglink") << m.source;
      EXPECT_FALSE(m.file.empty());
    }
  }
}

// `ccprof report` of a recording: the build ID recorded with a module's maps picks the
// file, and a file that only has the same path (another build) is never used.
TEST(Symbolizer, ARecordedBuildIdAcceptsItsFileAndRefusesAnotherBuild) {
  char exe[4096] = {};
  ASSERT_GT(readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
  const int fd = open(exe, O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::string id = model::elf_build_id_hex(fd);
  close(fd);
  ASSERT_EQ(id.size(), 40u) << id;  // gcc's default: SHA-1
  ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  const auto fn = reinterpret_cast<uint64_t>(&symbolizer_test_function);

  ProcessInfo same = self();
  for (auto& m : same.maps)
    if (m.path == exe) m.build_id = id;
  Symbolizer ok(same);
  EXPECT_EQ(ok.code(fn).function, "symbolizer_test_function");
  EXPECT_TRUE(ok.refused_modules().empty());

  ProcessInfo other = self();
  const std::string recorded = "00112233445566778899aabbccddeeff00112233";
  for (auto& m : other.maps)
    if (m.path == exe) m.build_id = recorded;
  Symbolizer refused(other);
  EXPECT_EQ(refused.code(fn).function.rfind("0x", 0), 0u) << refused.code(fn).function;
  EXPECT_EQ(refused.refused_modules(), std::vector<std::string>{exe});
  EXPECT_TRUE(refused.unreadable_modules().empty());  // counted once, as refused
  bool row = false;
  for (const auto& m : refused.debug_info_sources()) {
    if (m.module != exe) continue;
    row = true;
    EXPECT_EQ(m.source, "module unreadable");
    EXPECT_NE(m.detail.find(absl::StrCat(exe, " has build ID ", id, ", not the recorded ", recorded)),
              std::string::npos)
        << m.detail;
    EXPECT_NE(m.detail.find(absl::StrCat("/usr/lib/debug/.build-id/00/", recorded.substr(2))), std::string::npos)
        << m.detail;
  }
  EXPECT_TRUE(row);
}

TEST(Symbolizer, NoBuildIdInWhatIsNotAnElfFile) {
  char path[] = "/tmp/ccprof-build-id-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  EXPECT_EQ(model::elf_build_id_hex(fd), "");  // empty
  const char head[] = "\x7f" "ELF\x02\x01\x01";  // an ELF header cut short
  ASSERT_EQ(write(fd, head, sizeof head - 1), static_cast<ssize_t>(sizeof head - 1));
  EXPECT_EQ(model::elf_build_id_hex(fd), "");
  close(fd);
  EXPECT_EQ(model::elf_build_id_hex(-1), "");
}

TEST(Symbolizer, NamesAGlobalAndTheOffsetInsideIt) {
  ProcessInfo p = self();
  Symbolizer sym(p);
  DataLocation d = sym.data(reinterpret_cast<uint64_t>(&g_symbolizer_test_array[3]));
  EXPECT_EQ(d.name, "g_symbolizer_test_array+24");
  EXPECT_EQ(d.region, "global");
  EXPECT_EQ(d.symbol_start, reinterpret_cast<uint64_t>(&g_symbolizer_test_array[0]));
  EXPECT_EQ(d.symbol_size, sizeof g_symbolizer_test_array);
}

TEST(Symbolizer, HeapAndUnknownAddressesGetARegion) {
  auto* heap = new int64_t[1 << 20];  // large: an anonymous mmap, not [heap]
  ProcessInfo p = self();  // maps read after the allocation
  Symbolizer sym(p);
  DataLocation none = sym.data(0x10);
  EXPECT_EQ(none.region, "unknown");
  DataLocation h = sym.data(reinterpret_cast<uint64_t>(heap + 100));
  EXPECT_TRUE(h.region == "anonymous" || h.region == "heap") << h.region;
  EXPECT_TRUE(h.name.empty());
  delete[] heap;
}

TEST(Symbolizer, LibcIsASystemObjectAndHeadersAreSystemSources) {
  EXPECT_TRUE(is_system_object("/usr/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(is_system_object("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"));
  EXPECT_FALSE(is_system_object("/work/build/workloads/s01-lock-contention"));
  EXPECT_TRUE(is_system_source("/usr/include/c++/12/bits/std_mutex.h"));
  EXPECT_FALSE(is_system_source("/work/main/tests/workloads/s01_lock_contention.cc"));
}

TEST(Symbolizer, UnreadableModuleIsCountedNotFatal) {
  ProcessInfo p;
  p.pid = 1;
  p.maps.push_back({0x400000, 0x401000, 0, "r-xp", "/nonexistent/binary", 5});
  Symbolizer sym(p);
  const CodeLocation& loc = sym.code(0x400100);
  EXPECT_EQ(loc.module, "/nonexistent/binary");
  EXPECT_EQ(loc.function, "0x400100");
  EXPECT_EQ(sym.unresolved_code(), 1u);
  std::vector<uint8_t> bytes;
  EXPECT_FALSE(sym.read_file_bytes(0x400100, 4, bytes));
}

TEST(Symbolizer, ShortCNamesAreNamesNotTypeCodes) {
  ProcessInfo p = self();
  Symbolizer sym(p);
  EXPECT_EQ(sym.code(reinterpret_cast<uint64_t>(&w)).function, "w");
  EXPECT_EQ(sym.code(reinterpret_cast<uint64_t>(&ab)).function, "ab");
  EXPECT_EQ(sym.data(reinterpret_cast<uint64_t>(&i[1])).name, "i+8");
}

}  // namespace
}  // namespace ccprof::profiler
