// Hostile input to `ccprof report`: crafted recordings and recordings whose memory
// maps name FIFOs and devices. Each must give a clear error or cost only the symbols
// of what it names, never a crash or a hang (alarm() turns a hang into a failure).
#include "model/untrusted_input.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "model/recording.h"
#include "profiler/symbolizer.h"

namespace ccprof::model {
namespace {

std::string temp_path(const std::string& name) {
  return std::string(::testing::TempDir()) + "/" + name + "-" + std::to_string(getpid());
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

class HangGuard : public ::testing::Test {
 protected:
  void SetUp() override { alarm(20); }  // a blocking open() would otherwise hang the suite
  void TearDown() override { alarm(0); }
};

// `levels` nested one-element CBOR arrays around a 0.
std::vector<uint8_t> nested_arrays(size_t levels) {
  std::vector<uint8_t> v(levels, 0x81);
  v.push_back(0x00);
  return v;
}

// A file with a valid recording header (magic, version, length, CRC) around `payload`,
// as a fuzzer with a CRC fix-up makes them.
void write_recording_file(const std::string& path, const std::vector<uint8_t>& payload) {
  std::ofstream(path, std::ios::binary) << recording_file_bytes(
      Recording::kFormatVersion, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
}

TEST_F(HangGuard, DeeplyNestedCborIsRejectedWithoutRecursingIntoIt) {
  // 131k levels overflowed the stack in json::from_cbor before the limit.
  auto r = parse_cbor_bounded(nested_arrays(131'072).data(), 131'073);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested deeper than 64 levels"), std::string::npos) << r.status();
  // At the limit it parses.
  auto ok = parse_cbor_bounded(nested_arrays(64).data(), 65);
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto beyond = parse_cbor_bounded(nested_arrays(65).data(), 66);
  EXPECT_FALSE(beyond.ok());
}

TEST_F(HangGuard, ItemLimitAndMalformedCborAreErrors) {
  std::vector<uint8_t> arr = {0x85, 1, 2, 3, 4, 5};  // [1,2,3,4,5]
  CborLimits few;
  few.max_items = 4;
  auto r = parse_cbor_bounded(arr.data(), arr.size(), few);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than 4 items"), std::string::npos) << r.status();
  // An array that announces 2^32 elements and ends: an error, not an allocation.
  std::vector<uint8_t> liar = {0x9a, 0xff, 0xff, 0xff, 0xff, 0x01};
  auto l = parse_cbor_bounded(liar.data(), liar.size());
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("malformed CBOR"), std::string::npos) << l.status();
}

TEST_F(HangGuard, FloatsThatNoIntegerFieldCanHoldAreRejected) {
  // CBOR half/double floats: NaN (found by the fuzzer: UB when read as uint64_t), -1.0,
  // 1e300, +inf; 0.5 is fine.
  for (std::vector<uint8_t> bad : {std::vector<uint8_t>{0xf9, 0x7e, 0x00}, {0xf9, 0xbc, 0x00},
                                   {0xfb, 0x7e, 0x37, 0xe4, 0x3c, 0x88, 0x00, 0x75, 0x9c}, {0xf9, 0x7c, 0x00}}) {
    auto r = parse_cbor_bounded(bad.data(), bad.size());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("outside [0, 2^31)"), std::string::npos) << r.status();
  }
  std::vector<uint8_t> half = {0xf9, 0x38, 0x00};
  auto ok = parse_cbor_bounded(half.data(), half.size());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_DOUBLE_EQ(ok->get<double>(), 0.5);
}

TEST_F(HangGuard, CraftedDeeplyNestedRecordingGivesAClearError) {
  const std::string path = temp_path("nested.ccprof");
  write_recording_file(path, nested_arrays(131'072));
  auto r = load_recording(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("is corrupt: nested deeper than 64 levels"), std::string::npos) << r.status();
  unlink(path.c_str());
}

// A version-4 file (zstd payload) whose frame is not zstd, or claims more than a
// recording may hold uncompressed: refused before anything is allocated for it.
TEST_F(HangGuard, CompressedPayloadsThatLieAreRefused) {
  const auto frame_file = [](const std::string& payload) {
    std::string data("CCPROFR1");
    const uint32_t version = Recording::kFormatVersion;
    const uint64_t len = payload.size();
    const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(payload.data()), payload.size());
    data.append(reinterpret_cast<const char*>(&version), 4);
    data.append(reinterpret_cast<const char*>(&len), 8);
    data.append(reinterpret_cast<const char*>(&crc), 4);
    return data + payload;
  };
  const std::string path = temp_path("zstd-liar.ccprof");
  // A zstd frame header (magic, single segment, 8-byte content size) claiming 5 GiB,
  // then one empty last block.
  std::string bomb("\x28\xb5\x2f\xfd\xe0", 5);
  const uint64_t claimed = 5ull << 30;
  bomb.append(reinterpret_cast<const char*>(&claimed), 8);
  bomb.append("\x01\x00\x00", 3);
  std::ofstream(path, std::ios::binary) << frame_file(bomb);
  auto r = load_recording(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("claims 5368709120 bytes uncompressed"), std::string::npos) << r.status();
  std::ofstream(path, std::ios::binary) << frame_file("plain CBOR is not a zstd frame");
  r = load_recording(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a zstd frame"), std::string::npos) << r.status();
  // A real frame cut short: the content size is known, the data is not all there.
  const std::string whole = recording_file_bytes(Recording::kFormatVersion, std::string(4096, 'x'));
  std::string cut = whole.substr(24, whole.size() - 24 - 3);
  std::ofstream(path, std::ios::binary) << frame_file(cut);
  r = load_recording(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not decompress"), std::string::npos) << r.status();
  std::remove(path.c_str());
}

TEST_F(HangGuard, RecordingThatIsAFifoOrADeviceIsRefusedWithoutBlocking) {
  const std::string fifo = temp_path("rec.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << strerror(errno);
  auto t0 = std::chrono::steady_clock::now();
  auto r = load_recording(fifo);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("will not open recording " + fifo + ": it is a FIFO"), std::string::npos)
      << r.status();
  unlink(fifo.c_str());

  auto dev = load_recording("/dev/zero");  // would never end if read
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.status().message().find("it is a character device"), std::string::npos) << dev.status();
  auto dir = load_recording("/tmp");
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("it is a directory"), std::string::npos) << dir.status();
  auto missing = load_recording("/nonexistent.ccprof");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot open recording /nonexistent.ccprof"), std::string::npos);
}

TEST_F(HangGuard, KernelInterfacesAreNotFiles) {
  for (const char* path : {"/proc/self/status", "/proc/kcore", "/sys/kernel/notes"}) {
    struct stat st {};
    if (stat(path, &st) != 0) continue;  // not on this kernel
    auto fd = open_regular_file(path);
    ASSERT_FALSE(fd.ok()) << path;
    EXPECT_NE(fd.status().message().find("it is a kernel interface on"), std::string::npos) << fd.status();
  }
  // A symlink elsewhere does not hide one.
  const std::string link = temp_path("link-to-proc");
  ASSERT_EQ(symlink("/proc/self/status", link.c_str()), 0);
  EXPECT_FALSE(open_regular_file(link).ok());
  unlink(link.c_str());
}

TEST_F(HangGuard, ReadRegularFileBoundsTheSize) {
  const std::string path = temp_path("big");
  std::ofstream(path) << std::string(1000, 'x');
  auto small = read_regular_file(path, 999);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("larger than the 999 bytes"), std::string::npos) << small.status();
  auto fits = read_regular_file(path, 1000);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->size(), 1000u);
  unlink(path.c_str());
}

TEST_F(HangGuard, MapsNamingAFifoOrADeviceCostOnlyTheirSymbols) {
  // A recording can name any path in its maps; the symbolizer opened them with a
  // blocking open() (a FIFO hung `ccprof report` forever).
  const std::string fifo = temp_path("maps.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ProcessInfo proc;
  proc.pid = 1;
  proc.maps.push_back({0x400000, 0x401000, 0, "r-xp", fifo, 1234});
  proc.maps.push_back({0x500000, 0x501000, 0, "r-xp", "/dev/zero", 5});
  proc.maps.push_back({0x600000, 0x601000, 0, "r-xp", self_exe(), 7});  // a real ELF still works
  proc.maps.push_back({0x70000000, 0x70001000, 0, "r-xp", "/proc/kcore", 8});  // ELF, but kernel memory (far above
  // the test binary, which dwfl reports whole from 0x600000)
  auto t0 = std::chrono::steady_clock::now();
  profiler::Symbolizer sym(proc);
  const profiler::CodeLocation& in_fifo = sym.code(0x400010);
  EXPECT_EQ(in_fifo.function, "0x400010");
  const profiler::CodeLocation& in_dev = sym.code(0x500010);
  EXPECT_EQ(in_dev.function, "0x500010");
  std::vector<uint8_t> bytes;
  EXPECT_FALSE(sym.read_file_bytes(0x400010, 16, bytes));
  EXPECT_FALSE(sym.read_file_bytes(0x500010, 16, bytes));
  EXPECT_TRUE(sym.read_file_bytes(0x600000, 4, bytes));
  ASSERT_EQ(bytes.size(), 4u);
  EXPECT_EQ(memcmp(bytes.data(), "\x7f" "ELF", 4), 0);
  EXPECT_FALSE(sym.read_file_bytes(0x70000000, 4, bytes));
  EXPECT_EQ(sym.code(0x70000010).function, "0x70000010");
  EXPECT_EQ(sym.unresolved_code(), 3u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  unlink(fifo.c_str());
}

}  // namespace
}  // namespace ccprof::model
