#include "profiler/decode_access.h"

#include <gtest/gtest.h>

#include <optional>
#include <unistd.h>

#include <cstring>

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
// The load is stored back to the same word: one read-modify-write split in two.
TEST(DecodeAccess, PreviousInstructionRule) {
  std::vector<uint8_t> code = {0x48, 0x8b, 0x07, 0x48, 0x83, 0xc0, 0x01, 0x48, 0x89, 0x07, 0xc3};
  const uint64_t f = 0x401000;
  UserRegs r = regs_with({{kRdi, 0x7010}});
  auto load = decode_previous_access(code, f, f + 3, r, 0);
  ASSERT_TRUE(load.access);
  EXPECT_EQ(load.access->kind, AccessKind::kRmw);
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

// A load is the read half of a split read-modify-write only when every path from it
// stores to the same operand, with its address registers unchanged (mapreduce -O2: the
// load hoisted above the refund test, each arm storing the sum).
TEST(DecodeAccess, ALoadStoredBackOnEveryPathIsARmw) {
  const uint64_t f = 0x401000;
  const UserRegs r = regs_with({{kRdi, 0x7010}});
  const auto kind_at_load = [&](const std::vector<uint8_t>& code) {
    auto d = decode_previous_access(code, f, f + 3, r, 0);
    return d.access ? std::optional<AccessKind>(d.access->kind) : std::nullopt;
  };
  //  0: mov (%rdi),%rax  3: test $1,%sil  7: jne 16  9: add $1,%rax  13: mov %rax,(%rdi)
  // 16: sub $1,%rax     20: mov %rax,(%rdi)  23: ret
  const std::vector<uint8_t> both_arms = {0x48, 0x8b, 0x07, 0x40, 0xf6, 0xc6, 0x01, 0x75, 0x07, 0x48, 0x83, 0xc0,
                                          0x01, 0x48, 0x89, 0x07, 0x48, 0x83, 0xe8, 0x01, 0x48, 0x89, 0x07, 0xc3};
  EXPECT_EQ(kind_at_load(both_arms), AccessKind::kRmw);
  // The same with the taken arm returning at once: one path never stores.
  const std::vector<uint8_t> one_arm = {0x48, 0x8b, 0x07, 0x40, 0xf6, 0xc6, 0x01, 0x75, 0x07,
                                        0x48, 0x83, 0xc0, 0x01, 0x48, 0x89, 0x07, 0xc3};
  EXPECT_EQ(kind_at_load(one_arm), AccessKind::kRead);
  //  0: mov (%rdi),%rax  3: mov (%rsi),%rdi  6: mov %rax,(%rdi): the base moved, another word
  EXPECT_EQ(kind_at_load({0x48, 0x8b, 0x07, 0x48, 0x8b, 0x3e, 0x48, 0x89, 0x07, 0xc3}), AccessKind::kRead);
  //  0: mov (%rdi),%rax  3: mov %rax,0x8(%rdi): the next word, not this one
  EXPECT_EQ(kind_at_load({0x48, 0x8b, 0x07, 0x48, 0x89, 0x47, 0x08, 0xc3}), AccessKind::kRead);
  //  0: mov (%rdi),%rax  3: call  8: mov %rax,(%rdi): the callee may have changed anything
  EXPECT_EQ(kind_at_load({0x48, 0x8b, 0x07, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x48, 0x89, 0x07, 0xc3}), AccessKind::kRead);
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

// A rotated loop whose loop condition is also reached by a jump from inside the
// loop (a `continue`): the predecessor is ambiguous, so the sample stays dropped.
//   0: jmp 13                      eb 11
//   2: lock addq $1,0x20(%rdi)     f0 48 83 47 20 01
//   8: test %rdx,%rdx              48 85 d2
//   b: jne 13                      75 06
//   d: lock addq $1,0x18(%rdi)     f0 48 83 47 18 01
//  13: mov (%rsi),%eax             8b 06
//  15: test %eax,%eax              85 c0
//  17: je 2                        74 e9
//  19: ret                         c3
TEST(DecodeAccess, LoopConditionReachedFromInsideTheLoopStaysABranchTarget) {
  std::vector<uint8_t> code = {0xeb, 0x11, 0xf0, 0x48, 0x83, 0x47, 0x20, 0x01, 0x48, 0x85, 0xd2, 0x75, 0x06,
                               0xf0, 0x48, 0x83, 0x47, 0x18, 0x01, 0x8b, 0x06, 0x85, 0xc0, 0x74, 0xe9, 0xc3};
  const uint64_t f = 0x401000;
  EXPECT_EQ(decode_previous_access(code, f, f + 0x13, regs_with({{kRdi, 0x7000}}), 0).failure,
            DecodeFailure::kBranchTarget);
  // Without the `jne` (patched to two nops) only the loop entry jumps there.
  code[0xb] = 0x66;
  code[0xc] = 0x90;
  auto r = decode_previous_access(code, f, f + 0x13, regs_with({{kRdi, 0x7000}}), 0);
  ASSERT_TRUE(r.access) << decode_failure_name(r.failure);
  EXPECT_EQ(r.recovery, DecodeRecovery::kLoopFallThrough);
  EXPECT_EQ(r.access->data_addr, 0x7018u);
  EXPECT_EQ(r.access->kind, AccessKind::kLockedRmw);
}

// An out-of-line block after the loop's back edge, entered from inside the loop, that
// jumps back to the loop condition: its jump is not a loop entry, so the
// predecessor of the condition stays ambiguous.
//   0: jmp 13; 2: lock addq $1,0x20(%rdi); 8: test %rdx,%rdx; b: jne 1a;
//   d: lock addq $1,0x18(%rdi); 13: mov (%rsi),%eax; 15: test; 17: je 2; 19: ret;
//  1a: add $1,%rcx; 1e: jmp 13
TEST(DecodeAccess, OutOfLineBlockOfTheLoopIsNotALoopEntry) {
  std::vector<uint8_t> code = {0xeb, 0x11, 0xf0, 0x48, 0x83, 0x47, 0x20, 0x01, 0x48, 0x85, 0xd2,
                               0x75, 0x0d, 0xf0, 0x48, 0x83, 0x47, 0x18, 0x01, 0x8b, 0x06, 0x85,
                               0xc0, 0x74, 0xe9, 0xc3, 0x48, 0x83, 0xc1, 0x01, 0xeb, 0xf3};
  const uint64_t f = 0x401000;
  EXPECT_EQ(decode_previous_access(code, f, f + 0x13, regs_with({{kRdi, 0x7000}}), 0).failure,
            DecodeFailure::kBranchTarget);
}

// mov %rdi,%rax; mov 0x8(%rax),%rax: the base is a copy of rdi, which still holds it.
TEST(DecodeAccess, OverwrittenBaseCopiedFromAnotherRegister) {
  std::vector<uint8_t> code = {0x48, 0x89, 0xf8, 0x48, 0x8b, 0x40, 0x08, 0xc3};
  auto r = decode_previous_access(code, 0x401000, 0x401007, regs_with({{kRdi, 0x7000}, {kRax, 5}}), 0);
  ASSERT_TRUE(r.access) << decode_failure_name(r.failure);
  EXPECT_EQ(r.recovery, DecodeRecovery::kBaseFromRegister);
  EXPECT_EQ(r.access->data_addr, 0x7008u);
  EXPECT_EQ(r.access->insn_addr, 0x401003u);
}

// A frame's stack window as the sampler keeps it: the 256 bytes below rbp.
std::vector<StackWindow> frame_window(uint64_t rbp, std::initializer_list<std::pair<int, uint64_t>> slots) {
  StackWindow w;
  w.addr = rbp - 256;
  w.bytes.assign(256, 0);
  for (auto [off, v] : slots) memcpy(w.bytes.data() + 256 + off, &v, sizeof v);
  return {w};
}

// -O0: mov -0x8(%rbp),%rax; mov %rdx,-0x8(%rbp); mov 0x8(%rax),%rax. The slot was
// stored to after the load, so the window no longer holds the loaded value.
TEST(DecodeAccess, StackSlotStoredToAfterTheLoadIsNotUsed) {
  std::vector<uint8_t> code = {0x48, 0x8b, 0x45, 0xf8, 0x48, 0x89, 0x55, 0xf8, 0x48, 0x8b, 0x40, 0x08, 0xc3};
  const uint64_t rbp = 0x7ffe0100;
  auto stack = frame_window(rbp, {{-8, 0x9000}});
  UserRegs r = regs_with({{kRbp, rbp}, {kRsp, rbp - 0x40}, {kRdx, 0x9000}});
  EXPECT_EQ(decode_previous_access(code, 0x401000, 0x40100c, r, 0, &stack).failure,
            DecodeFailure::kBaseOverwritten);
  // Without that store (patched out) the slot holds the pointer the load read.
  std::vector<uint8_t> clean = {0x48, 0x8b, 0x45, 0xf8, 0x48, 0x8b, 0x40, 0x08, 0xc3};
  auto ok = decode_previous_access(clean, 0x401000, 0x401008, r, 0, &stack);
  ASSERT_TRUE(ok.access) << decode_failure_name(ok.failure);
  EXPECT_EQ(ok.recovery, DecodeRecovery::kBaseFromStack);
  EXPECT_EQ(ok.access->data_addr, 0x9008u);
  // A slot outside the window (or no window at all) cannot be read.
  EXPECT_EQ(decode_previous_access(clean, 0x401000, 0x401008, r, 0, nullptr).failure,
            DecodeFailure::kBaseOverwritten);
  auto far = frame_window(rbp + 0x1000, {});
  EXPECT_EQ(decode_previous_access(clean, 0x401000, 0x401008, r, 0, &far).failure, DecodeFailure::kBaseOverwritten);
}

// -O0 array element a[i] with `long* a` at -0x20(%rbp) and `int i` at -0x14(%rbp):
//   mov -0x14(%rbp),%eax; cltq; lea 0x0(,%rax,8),%rdx; mov -0x20(%rbp),%rax;
//   add %rdx,%rax; mov (%rax),%rax
TEST(DecodeAccess, O0ArrayElementThroughAReloadedPointer) {
  std::vector<uint8_t> code = {0x8b, 0x45, 0xec, 0x48, 0x98, 0x48, 0x8d, 0x14, 0xc5, 0x00, 0x00, 0x00,
                               0x00, 0x48, 0x8b, 0x45, 0xe0, 0x48, 0x01, 0xd0, 0x48, 0x8b, 0x00, 0xc3};
  const uint64_t rbp = 0x7ffe0100;
  auto stack = frame_window(rbp, {{-0x20, 0x9000}, {-0x14, 3}});
  UserRegs r = regs_with({{kRbp, rbp}, {kRsp, rbp}, {kRdx, 24}, {kRax, 0x1234}});
  auto d = decode_previous_access(code, 0x401000, 0x401017, r, 0, &stack);
  ASSERT_TRUE(d.access) << decode_failure_name(d.failure);
  EXPECT_EQ(d.access->data_addr, 0x9000u + 3 * 8);
  EXPECT_EQ(d.recovery, DecodeRecovery::kBaseFromStack);
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
