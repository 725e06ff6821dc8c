// Decodes a real critical section of this test binary (built -O2): the code between a
// pthread_mutex_lock call and the unlock must show one RMW of the guarded counter.
#include "profiler/critical_section.h"

#include <Zydis/Zydis.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include "agent/proc.h"

pthread_mutex_t g_cs_test_mutex = PTHREAD_MUTEX_INITIALIZER;
long g_cs_test_counter;

__attribute__((noinline)) void cs_test_increment() {
  pthread_mutex_lock(&g_cs_test_mutex);
  ++g_cs_test_counter;
  pthread_mutex_unlock(&g_cs_test_mutex);
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

TEST(CriticalSection, AddressWithoutCodeOnDiskIsNotDecoded) {
  ProcessInfo p;
  Symbolizer sym(p);
  CriticalSection cs = decode_critical_section(sym, 0x1234);
  EXPECT_FALSE(cs.decoded);
  EXPECT_EQ(cs.stop, "no code");
}

}  // namespace
}  // namespace ccprof::profiler
