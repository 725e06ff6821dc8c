// Decodes real spin-lock acquisitions of this test binary (built -O2): an exchange of a
// global's static address names that word; one through a register (an array element
// picked at run time) names none; and only the code the caller accepts counts.
#include "profiler/lock_code.h"

#include <gtest/gtest.h>

#include <Zydis/Zydis.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/proc.h"
#include "profiler/data_naming.h"
#include "profiler/lock_libraries.h"
#include "tests/unit/self_symbolizer.h"

std::atomic<bool> g_lx_flag;
std::atomic<bool> g_lx_other_flag;
std::atomic<bool> g_lx_flags[8];

// tbb::spin_mutex::lock's shape: exchange until the old value was false.
__attribute__((noinline)) void lx_spin_static() {
  while (g_lx_flag.exchange(true, std::memory_order_acquire)) asm volatile("pause");
  g_lx_flag.store(false, std::memory_order_release);
}

// The sharded twin: which flag is known only at run time.
__attribute__((noinline)) void lx_spin_computed(int i) {
  while (g_lx_flags[i & 7].exchange(true, std::memory_order_acquire)) asm volatile("pause");
  g_lx_flags[i & 7].store(false, std::memory_order_release);
}

// Two locks taken in one function.
__attribute__((noinline)) void lx_spin_two() {
  while (g_lx_flag.exchange(true, std::memory_order_acquire)) asm volatile("pause");
  while (g_lx_other_flag.exchange(true, std::memory_order_acquire)) asm volatile("pause");
  g_lx_other_flag.store(false, std::memory_order_release);
  g_lx_flag.store(false, std::memory_order_release);
}

// A lock in a heap object: the lock call's argument is computed from `t`.
struct LxTable {
  long entries = 0;
  std::mutex mu;
  long hits = 0;
};
__attribute__((noinline)) void lx_lock_heap(LxTable* t) {
  std::lock_guard<std::mutex> g(t->mu);
  ++t->hits;
}

namespace ccprof::profiler {
namespace {

class LockExchangesTest : public SelfSymbolizerTest {
 protected:
  static bool any(const CodeLocation&) { return true; }
  // Inside the function, as a yield's return address would be.
  static uint64_t inside(void (*fn)()) { return reinterpret_cast<uint64_t>(fn) + 1; }
};

TEST_F(LockExchangesTest, AStaticExchangeNamesItsWord) {
  const LockExchanges x = decode_lock_exchanges(*sym_, inside(lx_spin_static), any);
  ASSERT_TRUE(x.decoded);
  EXPECT_EQ(x.static_words, std::set<uint64_t>{reinterpret_cast<uint64_t>(&g_lx_flag)});
  EXPECT_EQ(x.computed, 0);  // the release is a plain store, not an exchange
}

TEST_F(LockExchangesTest, AComputedExchangeNamesNoWord) {
  const uint64_t pc = reinterpret_cast<uint64_t>(&lx_spin_computed) + 1;
  const LockExchanges x = decode_lock_exchanges(*sym_, pc, any);
  ASSERT_TRUE(x.decoded);
  EXPECT_TRUE(x.static_words.empty());
  EXPECT_GE(x.computed, 1);
}

TEST_F(LockExchangesTest, TwoLocksAreTwoWords) {
  const LockExchanges x = decode_lock_exchanges(*sym_, inside(lx_spin_two), any);
  EXPECT_EQ(x.static_words, (std::set<uint64_t>{reinterpret_cast<uint64_t>(&g_lx_flag),
                                                reinterpret_cast<uint64_t>(&g_lx_other_flag)}));
}

TEST_F(LockExchangesTest, OnlyAcceptedCodeCounts) {
  // The program's own atomics are not a lock library's acquisition.
  const LockExchanges x = decode_lock_exchanges(*sym_, inside(lx_spin_static), [](const CodeLocation&) { return false; });
  EXPECT_TRUE(x.decoded);
  EXPECT_TRUE(x.static_words.empty());
  EXPECT_EQ(x.computed, 0);
}

TEST_F(LockExchangesTest, NoFunctionIsNotDecoded) {
  EXPECT_FALSE(decode_lock_exchanges(*sym_, 0x10, any).decoded);
}

// The return address of the first call in `fn` (lx_lock_heap's pthread_mutex_lock).
uint64_t first_call_return(Symbolizer& sym, uint64_t fn) {
  uint64_t start = 0;
  std::vector<uint8_t> code;
  if (!read_function_code(sym, fn + 1, &start, &code)) return 0;
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction insn;
  for (size_t at = 0; at < code.size(); at += insn.length) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, nullptr, code.data() + at, code.size() - at, &insn))) return 0;
    if (insn.mnemonic == ZYDIS_MNEMONIC_CALL) return start + at + insn.length;
  }
  return 0;
}

TEST_F(LockExchangesTest, AHeapLockIsNamedByThePointersType) {
  const uint64_t ret = first_call_return(*sym_, reinterpret_cast<uint64_t>(&lx_lock_heap));
  ASSERT_NE(ret, 0u);
  EXPECT_EQ(lock_argument_name(*sym_, ret), "LxTable.mu (via t)");
  // Not the return address of a call: nothing is guessed.
  EXPECT_EQ(lock_argument_name(*sym_, reinterpret_cast<uint64_t>(&lx_lock_heap) + 1), "");
}

// tests/unit/rust_fixtures/heap_lock.rs, built with Debian's rustc where it is installed:
// started with a pipe on its stdin (it waits until the pipe closes) and read like a
// profiled process.
class RustHeapLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string exe = std::string(CCPROF_BUILD_DIR) + "/fixtures/rust_heap_lock";
    if (access(exe.c_str(), X_OK) != 0) GTEST_SKIP() << exe << " not built (Debian's rustc missing)";
    int in[2], out[2];
    ASSERT_EQ(pipe(in), 0);
    ASSERT_EQ(pipe(out), 0);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      execl(exe.c_str(), exe.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    FILE* f = fdopen(out[0], "r");
    ASSERT_NE(f, nullptr);
    unsigned long long fn = 0, global = 0;
    ASSERT_EQ(fscanf(f, "count_word=%llx global=%llx", &fn, &global), 2);
    fclose(f);
    count_word_ = fn;
    global_ = global;
    proc_.pid = static_cast<uint32_t>(pid_);
    proc_.maps = *agent::read_maps(proc_.pid);
    sym_ = std::make_unique<Symbolizer>(proc_);
  }
  void TearDown() override {
    if (stdin_ >= 0) close(stdin_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  pid_t pid_ = -1;
  int stdin_ = -1;
  uint64_t count_word_ = 0, global_ = 0;
  ProcessInfo proc_;
  std::unique_ptr<Symbolizer> sym_;
};

TEST_F(RustHeapLockTest, AHeapMutexIsNamedByItsReferencesType) {
  // Every call in count_word that is std's inlined lock code (its contended slow path,
  // poison's panicking check): the one whose first argument is the lock word names the
  // Mutex by the type `table` points to, with the program's short type names.
  uint64_t start = 0;
  std::vector<uint8_t> code;
  ASSERT_TRUE(read_function_code(*sym_, count_word_ + 1, &start, &code));
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction insn;
  std::set<std::string> names;
  int lock_calls = 0;
  for (size_t at = 0; at < code.size(); at += insn.length) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, nullptr, code.data() + at, code.size() - at, &insn))) {
      insn.length = 1;
      continue;
    }
    if (insn.mnemonic != ZYDIS_MNEMONIC_CALL) continue;
    const uint64_t ret = start + at + insn.length;
    if (!is_lock_library_code(sym_->code(ret - 1))) continue;
    ++lock_calls;
    if (std::string n = lock_argument_name(*sym_, ret); !n.empty()) names.insert(n);
  }
  EXPECT_GE(lock_calls, 1);
  EXPECT_EQ(names, std::set<std::string>{"Mutex<HashMap<u64, u64, RandomState>> (via table)"});
}

TEST_F(RustHeapLockTest, AGlobalMutexIsNamedAsTheLockNotItsFutexWord) {
  // The futex word is GLOBAL_COUNT.inner.futex.v.value in DWARF: named as the program's
  // lock; the data it guards keeps its member path.
  EXPECT_EQ(data_member_name(*sym_, global_), "heap_lock::GLOBAL_COUNT");
  EXPECT_EQ(data_member_name(*sym_, global_ + 4), "heap_lock::GLOBAL_COUNT+4");  // the poison flag
  EXPECT_EQ(data_member_name(*sym_, global_ + 8), "heap_lock::GLOBAL_COUNT.data.value");
}

}  // namespace
}  // namespace ccprof::profiler
