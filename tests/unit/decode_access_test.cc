#include "profiler/decode_access.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/proc.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {
namespace {

UserRegs regs_with(std::initializer_list<std::pair<int, uint64_t>> values) {
  UserRegs r{};
  for (auto [i, v] : values) r[i] = v;
  return r;
}

DecodeResult one(std::vector<uint8_t> bytes, uint64_t addr, const UserRegs& r, uint64_t fsbase = 0,
                 bool after = true) {
  return decode_instruction_access(bytes.data(), bytes.size(), addr, r, fsbase, after);
}

TEST(DecodeAccess, LoadThroughABaseRegister) {
  // mov (%rdi),%rax: the destination is not the base, so the post-state still has it.
  auto r = one({0x48, 0x8b, 0x07}, 0x401000, regs_with({{kRdi, 0x7000}}));
  ASSERT_TRUE(r.access);
  EXPECT_EQ(r.access->data_addr, 0x7000u);
  EXPECT_EQ(r.access->size, 8u);
  EXPECT_EQ(r.access->kind, AccessKind::kRead);
  EXPECT_EQ(r.access->insn_addr, 0x401000u);
}

TEST(DecodeAccess, StoreWithBaseIndexScaleAndDisplacement) {
  // mov %eax,0x10(%rdi,%rcx,4)
  auto r = one({0x89, 0x44, 0x8f, 0x10}, 0x401000, regs_with({{kRdi, 0x7000}, {kRcx, 3}}));
  ASSERT_TRUE(r.access);
  EXPECT_EQ(r.access->data_addr, 0x7000u + 0x10 + 3 * 4);
  EXPECT_EQ(r.access->size, 4u);
  EXPECT_EQ(r.access->kind, AccessKind::kWrite);
}

TEST(DecodeAccess, RejectsAnInstructionThatOverwroteItsBase) {
  // mov (%rax),%rax: after it ran, rax is the loaded value, not the address.
  auto r = one({0x48, 0x8b, 0x00}, 0x401000, regs_with({{kRax, 0x7000}}));
  EXPECT_FALSE(r.access);
  EXPECT_EQ(r.failure, DecodeFailure::kBaseOverwritten);
  // ...but with the registers before it ran (regs_after = false) the address is known.
  auto before = one({0x48, 0x8b, 0x00}, 0x401000, regs_with({{kRax, 0x7000}}), 0, false);
  ASSERT_TRUE(before.access);
  EXPECT_EQ(before.access->data_addr, 0x7000u);
}

TEST(DecodeAccess, RejectsAnInstructionThatOverwroteItsIndex) {
  // mov (%rdi,%rcx,8),%rcx (32-bit write ecx counts: it zero-extends into rcx)
  EXPECT_EQ(one({0x48, 0x8b, 0x0c, 0xcf}, 0x401000, {}).failure, DecodeFailure::kBaseOverwritten);
  EXPECT_EQ(one({0x8b, 0x0c, 0xcf}, 0x401000, {}).failure, DecodeFailure::kBaseOverwritten);
}

TEST(DecodeAccess, LockedAddIsALockedReadModifyWrite) {
  // lock addq $1,(%rdi)
  auto r = one({0xf0, 0x48, 0x83, 0x07, 0x01}, 0x401000, regs_with({{kRdi, 0x7008}}));
  ASSERT_TRUE(r.access);
  EXPECT_EQ(r.access->kind, AccessKind::kLockedRmw);
  EXPECT_EQ(r.access->data_addr, 0x7008u);
  // addq $1,(%rdi) without the prefix: a plain read-modify-write
  auto plain = one({0x48, 0x83, 0x07, 0x01}, 0x401000, regs_with({{kRdi, 0x7008}}));
  ASSERT_TRUE(plain.access);
  EXPECT_EQ(plain.access->kind, AccessKind::kRmw);
}

TEST(DecodeAccess, LockCmpxchgIsACas) {
  // lock cmpxchg %rcx,(%rdx): writes rax implicitly, which is not its base.
  auto r = one({0xf0, 0x48, 0x0f, 0xb1, 0x0a}, 0x401000, regs_with({{kRdx, 0x9000}}));
  ASSERT_TRUE(r.access);
  EXPECT_EQ(r.access->kind, AccessKind::kCas);
  EXPECT_EQ(r.access->data_addr, 0x9000u);
  EXPECT_TRUE(is_locked(r.access->kind));
}

TEST(DecodeAccess, XchgWithMemoryIsLockedWithoutAPrefix) {
  // xchg %rax,(%rdi)
  auto r = one({0x48, 0x87, 0x07}, 0x401000, regs_with({{kRdi, 0x7000}}));
  ASSERT_TRUE(r.access);
  EXPECT_EQ(r.access->kind, AccessKind::kLockedRmw);
}

TEST(DecodeAccess, RipRelativeUsesTheInstructionsOwnAddress) {
  // mov %rax,0x10(%rip): 7 bytes, so the address is insn + 7 + 0x10.
  auto r = one({0x48, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00}, 0x401000, {});
  ASSERT_TRUE(r.access);
  EXPECT_TRUE(r.access->rip_relative);
  EXPECT_EQ(r.access->data_addr, 0x401000u + 7 + 0x10);
  EXPECT_EQ(r.access->kind, AccessKind::kWrite);
}

TEST(DecodeAccess, FsRelativeAddsTheThreadsFsBase) {
  // mov %fs:0xfffffffffffffff8,%rax (a TLS variable of the executable)
  auto r = one({0x64, 0x48, 0x8b, 0x04, 0x25, 0xf8, 0xff, 0xff, 0xff}, 0x401000, {}, 0x7f0000001000);
  ASSERT_TRUE(r.access);
  EXPECT_TRUE(r.access->fs_relative);
  EXPECT_EQ(r.access->data_addr, 0x7f0000001000u - 8);
}

TEST(DecodeAccess, PushAndCallAreNotDataAccesses) {
  EXPECT_EQ(one({0x53}, 0x401000, {}).failure, DecodeFailure::kNoMemoryOperand);  // push %rbx
  EXPECT_EQ(one({0xff, 0x50, 0x10}, 0x401000, {}).failure, DecodeFailure::kPreviousIsBranch);  // call *0x10(%rax)
  EXPECT_EQ(one({0x48, 0x8d, 0x47, 0x08}, 0x401000, {}).failure, DecodeFailure::kNoMemoryOperand);  // lea
}

// The sampled IP is the instruction after the one that ran.
//   0: mov (%rdi),%rax      48 8b 07
//   3: add $1,%rax          48 83 c0 01
//   7: mov %rax,(%rdi)      48 89 07
//  10: ret                  c3
TEST(DecodeAccess, PreviousInstructionRule) {
  std::vector<uint8_t> code = {0x48, 0x8b, 0x07, 0x48, 0x83, 0xc0, 0x01, 0x48, 0x89, 0x07, 0xc3};
  const uint64_t f = 0x401000;
  UserRegs r = regs_with({{kRdi, 0x7010}});
  auto load = decode_previous_access(code, f, f + 3, r, 0);
  ASSERT_TRUE(load.access);
  EXPECT_EQ(load.access->kind, AccessKind::kRead);
  EXPECT_EQ(load.access->insn_addr, f);
  EXPECT_EQ(decode_previous_access(code, f, f + 7, r, 0).failure, DecodeFailure::kNoMemoryOperand);
  auto store = decode_previous_access(code, f, f + 10, r, 0);
  ASSERT_TRUE(store.access);
  EXPECT_EQ(store.access->kind, AccessKind::kWrite);
  EXPECT_EQ(store.access->insn_addr, f + 7);
  EXPECT_EQ(store.access->data_addr, 0x7010u);
  EXPECT_EQ(decode_previous_access(code, f, f, r, 0).failure, DecodeFailure::kFunctionStart);
  // An IP inside an instruction is not a boundary the decode reaches.
  EXPECT_EQ(decode_previous_access(code, f, f + 2, r, 0).failure, DecodeFailure::kBadDecode);
}

// A jump target's predecessor in the byte order may not be what ran.
//   0: mov (%rdi),%rax      48 8b 07
//   3: add $1,%rax          48 83 c0 01     <- target of the jne
//   7: jne 3                75 fa
TEST(DecodeAccess, RejectsAJumpTarget) {
  std::vector<uint8_t> code = {0x48, 0x8b, 0x07, 0x48, 0x83, 0xc0, 0x01, 0x75, 0xfa, 0xc3};
  const uint64_t f = 0x401000;
  EXPECT_EQ(decode_previous_access(code, f, f + 3, {}, 0).failure, DecodeFailure::kBranchTarget);
  // After the jne fell through, the jne ran.
  EXPECT_EQ(decode_previous_access(code, f, f + 9, {}, 0).failure, DecodeFailure::kPreviousIsBranch);
}

int64_t g_decode_test_slots[4];

__attribute__((noinline)) void decode_test_store(int64_t* p) {
  asm volatile("" ::: "memory");
  *p = 42;
  asm volatile("" ::: "memory");
}

// The AccessDecoder on this test binary's own code, read from the file on disk.
TEST(AccessDecoder, DecodesAStoreInThisBinaryFromTheFunctionStart) {
  ProcessInfo p;
  p.pid = static_cast<uint32_t>(getpid());
  p.maps = *agent::read_maps(p.pid);
  Symbolizer sym(p);
  AccessDecoder dec(sym);
  // Find the store instruction by decoding every boundary of decode_test_store.
  auto start = reinterpret_cast<uint64_t>(&decode_test_store);
  UserRegs r = regs_with({{kRdi, reinterpret_cast<uint64_t>(&g_decode_test_slots[2])}});
  bool found = false;
  for (uint64_t ip = start + 1; ip < start + 32 && !found; ++ip) {
    DecodeResult res = dec.decode(ip, r, 0);
    if (res.access && res.access->kind == AccessKind::kWrite) {
      EXPECT_EQ(res.access->data_addr, reinterpret_cast<uint64_t>(&g_decode_test_slots[2]));
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(dec.decode(start, r, 0).failure, DecodeFailure::kFunctionStart);
  EXPECT_EQ(dec.decode(0x10, r, 0).failure, DecodeFailure::kNoCode);
}

}  // namespace
}  // namespace ccprof::profiler
