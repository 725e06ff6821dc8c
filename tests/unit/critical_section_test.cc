// Decodes a real critical section of this test binary (built -O2): the code between a
// pthread_mutex_lock call and the unlock must show one RMW of the guarded counter.
#include "profiler/critical_section.h"

#include <Zydis/Zydis.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <memory>

#include "agent/proc.h"
#include "tests/unit/self_symbolizer.h"

pthread_mutex_t g_cs_test_mutex = PTHREAD_MUTEX_INITIALIZER;
long g_cs_test_counter;

__attribute__((noinline)) void cs_test_increment() {
  pthread_mutex_lock(&g_cs_test_mutex);
  ++g_cs_test_counter;
  pthread_mutex_unlock(&g_cs_test_mutex);
}

// A critical section whose work is in a callee of the program's own.
__attribute__((noinline)) void cs_test_add(long n) {
  g_cs_test_counter += n;
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void cs_test_calls_out() {
  pthread_mutex_lock(&g_cs_test_mutex);
  cs_test_add(2);
  pthread_mutex_unlock(&g_cs_test_mutex);
}

// ...through a pointer: the callee is not known from the code.
void (*volatile g_cs_test_callee)(long) = cs_test_add;
__attribute__((noinline)) void cs_test_indirect() {
  pthread_mutex_lock(&g_cs_test_mutex);
  g_cs_test_callee(3);
  pthread_mutex_unlock(&g_cs_test_mutex);
}

// A reader: the section loads the counter into a local (the stack) and stores nothing shared.
__attribute__((noinline)) void cs_test_read() {
  pthread_mutex_lock(&g_cs_test_mutex);
  volatile long seen = g_cs_test_counter;
  pthread_mutex_unlock(&g_cs_test_mutex);
  (void)seen;
}

// A reader whose work is in a callee that only loads.
__attribute__((noinline)) long cs_test_get() {
  asm volatile("" ::: "memory");
  return g_cs_test_counter;
}
long g_cs_test_seen;
__attribute__((noinline)) void cs_test_calls_reader() {
  pthread_mutex_lock(&g_cs_test_mutex);
  long v = cs_test_get();
  pthread_mutex_unlock(&g_cs_test_mutex);
  g_cs_test_seen = v;
}

// Leaves for the program's own code, then stores before the unlock.
__attribute__((noinline)) void cs_test_calls_then_stores() {
  pthread_mutex_lock(&g_cs_test_mutex);
  cs_test_add(1);
  ++g_cs_test_counter;
  pthread_mutex_unlock(&g_cs_test_mutex);
}

// A section that updates one word but computes its new value in a loop (registers
// only: parking_lot's s01 digest, whose samples have no data address).
volatile int g_cs_test_rounds = 64;
__attribute__((noinline)) void cs_test_loop_in_section() {
  pthread_mutex_lock(&g_cs_test_mutex);
  long h = g_cs_test_counter;
  for (int i = 0, n = g_cs_test_rounds; i < n; ++i) h = (h ^ i) * 0x100000001b3;
  g_cs_test_counter = h;
  pthread_mutex_unlock(&g_cs_test_mutex);
}

// A scope guard whose destructor is out of line, as every RAII guard is at -O0.
namespace cs_test {
struct lock_guard {
  explicit lock_guard(pthread_mutex_t& m) : m_(m) { pthread_mutex_lock(&m_); }
  __attribute__((noinline)) ~lock_guard() { pthread_mutex_unlock(&m_); }
  pthread_mutex_t& m_;
};
}  // namespace cs_test
__attribute__((noinline)) void cs_test_guarded_call() {
  cs_test::lock_guard g(g_cs_test_mutex);
  cs_test_add(4);
}

// A lock whose unlock is inlined as an atomic exchange (Rust's std Mutex, parking_lot).
int g_cs_test_word;
__attribute__((noinline)) void cs_test_spin_lock(int* w) {
  while (__atomic_exchange_n(w, 1, __ATOMIC_ACQUIRE)) {
  }
}
__attribute__((noinline)) void cs_test_inline_unlock() {
  cs_test_spin_lock(&g_cs_test_word);
  ++g_cs_test_counter;
  __atomic_exchange_n(&g_cs_test_word, 0, __ATOMIC_RELEASE);
}

// tbb::spin_mutex's lock() inlined: exchange the flag, yield while it was taken; then
// the section's store and a plain release store.
int g_cs_test_spin_flag;
__attribute__((noinline)) void cs_test_spin_yield_section() {
  while (__atomic_exchange_n(&g_cs_test_spin_flag, 1, __ATOMIC_ACQUIRE)) sched_yield();
  ++g_cs_test_counter;
  __atomic_store_n(&g_cs_test_spin_flag, 0, __ATOMIC_RELEASE);
}

namespace ccprof::profiler {
namespace {

// The return address of the first call in `fn`.
uint64_t after_first_call(const void* fn) {
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  const auto* code = static_cast<const uint8_t*>(fn);
  size_t off = 0;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  while (off < 256 && ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code + off, 256 - off, &insn, ops))) {
    off += insn.length;
    if (insn.mnemonic == ZYDIS_MNEMONIC_CALL) return reinterpret_cast<uint64_t>(code + off);
  }
  return 0;
}

TEST(CriticalSection, OneReadModifyWriteOfTheGuardedWord) {
  cs_test_increment();
  ProcessInfo p;
  p.pid = static_cast<uint32_t>(getpid());
  p.maps = *agent::read_maps(p.pid);
  Symbolizer sym(p);
  uint64_t pc = after_first_call(reinterpret_cast<const void*>(&cs_test_increment));
  ASSERT_NE(pc, 0u);
  CriticalSection cs = decode_critical_section(sym, pc);
  ASSERT_TRUE(cs.decoded);
  EXPECT_TRUE(cs.stop == "call" || cs.stop == "tail-call") << cs.stop;
  EXPECT_EQ(cs.dynamic_accesses, 0);
  int counter_writes = 0;
  for (const auto& a : cs.accesses)
    if (a.data_addr == reinterpret_cast<uint64_t>(&g_cs_test_counter) && a.write) ++counter_writes;
  EXPECT_EQ(counter_writes, 1);
}

class SectionWalk : public SelfSymbolizerTest {
 protected:
  SectionExtent walk(void (*fn)()) {
    const uint64_t pc = after_first_call(reinterpret_cast<const void*>(fn));
    EXPECT_NE(pc, 0u);
    return walk_critical_section(*sym_, pc);
  }
};

TEST_F(SectionWalk, ReachesTheUnlockThroughThePlt) {
  const SectionExtent e = walk(&cs_test_increment);
  EXPECT_TRUE(e.decoded);
  EXPECT_TRUE(e.self_contained) << e.reason;
  EXPECT_EQ(e.reason, "unlock");
}

TEST_F(SectionWalk, CallIntoTheProgramLeavesTheSection) {
  const SectionExtent e = walk(&cs_test_calls_out);
  EXPECT_TRUE(e.decoded);
  EXPECT_FALSE(e.self_contained);
  EXPECT_NE(e.reason.find("cs_test_add"), std::string::npos) << e.reason;
  // ...and still reaches the unlock, naming the call (its return address) the section's
  // work went to: samples whose caller returns there are inside the section.
  EXPECT_TRUE(e.unlocked);
  EXPECT_FALSE(e.indirect_call);
  ASSERT_EQ(e.program_calls.size(), 1u);
  EXPECT_EQ(sym_->code(e.program_calls[0] - 1).function, "cs_test_calls_out");
}

TEST_F(SectionWalk, IndirectCallIsNotKnown) {
  const SectionExtent e = walk(&cs_test_indirect);
  EXPECT_FALSE(e.self_contained);
  EXPECT_NE(e.reason.find("indirect call"), std::string::npos) << e.reason;
  EXPECT_TRUE(e.indirect_call);
  EXPECT_TRUE(e.program_calls.empty());
}

// The section ends at the guard's destructor, which the walk does not enter.
TEST_F(SectionWalk, ScopeGuardDestructorIsTheUnlock) {
  const SectionExtent e = walk(&cs_test_guarded_call);
  EXPECT_TRUE(e.unlocked) << e.reason;
  EXPECT_FALSE(e.self_contained);
  ASSERT_EQ(e.program_calls.size(), 1u);
  EXPECT_NE(e.reason.find("cs_test_add"), std::string::npos) << e.reason;
}

TEST_F(SectionWalk, InlinedAtomicExchangeIsTheUnlock) {
  const SectionExtent e = walk(&cs_test_inline_unlock);
  EXPECT_TRUE(e.self_contained) << e.reason;
  EXPECT_EQ(e.reason, "atomic release");
}

// From a yield inside a spinning acquisition (the site of a lock row made from yields),
// the exchange on the way is the acquisition, not the release: the walk passes it and
// sees the section's store. (From a lock call's return, an exchange is the release:
// InlinedAtomicExchangeIsTheUnlock.)
TEST_F(SectionWalk, FromAYieldTheExchangeIsTheAcquisition) {
  const SectionExtent e = walk(&cs_test_spin_yield_section);  // its first call: sched_yield
  EXPECT_TRUE(e.decoded);
  EXPECT_NE(e.reason, "atomic release");
  EXPECT_TRUE(e.writes_shared) << e.reason;
}

// Whether the walked path stores to shared memory before the unlock (not the stack, not
// the callee's code, which is not walked).
TEST_F(SectionWalk, StoresBeforeTheUnlockAreSeen) {
  EXPECT_TRUE(walk(&cs_test_increment).writes_shared);
  EXPECT_FALSE(walk(&cs_test_read).writes_shared);
  EXPECT_FALSE(walk(&cs_test_calls_out).writes_shared);
  const SectionExtent e = walk(&cs_test_calls_then_stores);
  EXPECT_TRUE(e.writes_shared);
  EXPECT_FALSE(e.self_contained);
  EXPECT_NE(e.reason.find("cs_test_add"), std::string::npos) << e.reason;
}

// The program's functions the section calls are scanned whole for stores to shared
// memory (-O0 code calls its section's work out of line, and one store per call is
// rarely sampled): cs_test_add stores the counter, cs_test_get only loads it.
TEST_F(SectionWalk, ACalleeThatStoresIsNamed) {
  EXPECT_EQ(walk(&cs_test_calls_out).callee_writer, "cs_test_add");
  EXPECT_EQ(walk(&cs_test_calls_then_stores).callee_writer, "cs_test_add");
  const SectionExtent reader = walk(&cs_test_calls_reader);
  EXPECT_TRUE(reader.unlocked) << reader.reason;
  ASSERT_EQ(reader.program_calls.size(), 1u);
  EXPECT_EQ(reader.callee_writer, "");
  EXPECT_EQ(walk(&cs_test_increment).callee_writer, "");  // no call
}

// A back edge before the unlock is a loop in the section; a straight section has none.
TEST_F(SectionWalk, LoopsBeforeTheUnlockAreCounted) {
  const SectionExtent e = walk(&cs_test_loop_in_section);
  EXPECT_TRUE(e.unlocked) << e.reason;
  EXPECT_GE(e.loops, 1);
  EXPECT_EQ(walk(&cs_test_increment).loops, 0);
  EXPECT_EQ(walk(&cs_test_calls_then_stores).loops, 0);
}

TEST_F(SectionWalk, PltStubNamesItsTarget) {
  // The first call of cs_test_increment goes to pthread_mutex_lock's PLT stub.
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  const auto* code = reinterpret_cast<const uint8_t*>(&cs_test_increment);
  size_t off = 0;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  ZyanU64 target = 0;
  while (off < 256 && ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code + off, 256 - off, &insn, ops))) {
    if (insn.mnemonic == ZYDIS_MNEMONIC_CALL) {
      ASSERT_TRUE(ZYAN_SUCCESS(
          ZydisCalcAbsoluteAddress(&insn, &ops[0], reinterpret_cast<uint64_t>(code + off), &target)));
      break;
    }
    off += insn.length;
  }
  ASSERT_NE(target, 0u);
  EXPECT_EQ(plt_target_name(*sym_, target), "pthread_mutex_lock");
  EXPECT_EQ(plt_target_name(*sym_, reinterpret_cast<uint64_t>(&cs_test_increment)), "");
}

TEST(CriticalSection, AddressWithoutCodeOnDiskIsNotDecoded) {
  ProcessInfo p;
  Symbolizer sym(p);
  CriticalSection cs = decode_critical_section(sym, 0x1234);
  EXPECT_FALSE(cs.decoded);
  EXPECT_EQ(cs.stop, "no code");
}

}  // namespace
}  // namespace ccprof::profiler
