// Decodes real spin-lock acquisitions of this test binary (built -O2): an exchange of a
// global's static address names that word; one through a register (an array element
// picked at run time) names none; and only the code the caller accepts counts.
#include "profiler/lock_code.h"

#include <gtest/gtest.h>

#include <Zydis/Zydis.h>

#include <atomic>
#include <mutex>
#include <vector>

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

}  // namespace
}  // namespace ccprof::profiler
