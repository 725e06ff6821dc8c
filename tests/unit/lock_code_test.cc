// Decodes real spin-lock acquisitions of this test binary (built -O2): an exchange of a
// global's static address names that word; one through a register (an array element
// picked at run time) names none; and only the code the caller accepts counts.
#include "profiler/lock_code.h"

#include <gtest/gtest.h>

#include <Zydis/Zydis.h>

#include <signal.h>
#include <ucontext.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/proc.h"
#include "profiler/critical_section.h"
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

// A lock function out of line (-O0's SpinLock::lock()), called with a static lock, a
// static lock's member, and an element picked at run time. Not tail calls: each call
// returns into its caller.
struct LxTwoLocks {
  std::atomic<bool> first;
  long pad;
  std::atomic<bool> second;
};
LxTwoLocks g_lx_two_locks;
long g_lx_taken;
__attribute__((noinline)) void lx_take(std::atomic<bool>* word) {
  while (word->exchange(true, std::memory_order_acquire)) asm volatile("pause");
  ++g_lx_taken;
  word->store(false, std::memory_order_release);
}
__attribute__((noinline)) long lx_pass_static() {
  lx_take(&g_lx_flag);
  return g_lx_taken + 1;
}
__attribute__((noinline)) long lx_pass_member() {
  lx_take(&g_lx_two_locks.second);
  return g_lx_taken + 2;
}
__attribute__((noinline)) long lx_pass_computed(int i) {
  lx_take(&g_lx_flags[i & 7]);
  return g_lx_taken + 3;
}

// A spin lock held across work: the holder waits inside its section until told to leave,
// and releases with a seq_cst store (`xor %eax,%eax; xchg %al,g_lx_hold_flag`).
std::atomic<bool> g_lx_hold_flag;
std::atomic<int> g_lx_entered;
std::atomic<bool> g_lx_leave;
long g_lx_before, g_lx_after;
__attribute__((noinline)) void lx_spin_hold(long n) {
  g_lx_before += n;
  asm volatile("" ::: "memory");
  while (g_lx_hold_flag.exchange(true, std::memory_order_acquire)) asm volatile("pause");
  g_lx_entered.fetch_add(1, std::memory_order_relaxed);
  while (!g_lx_leave.load(std::memory_order_relaxed)) asm volatile("pause");
  g_lx_hold_flag.store(false);
  asm volatile("" ::: "memory");
  g_lx_after += n;
}

// A spin lock's section with work, released by a plain store (tbb::spin_mutex's unlock).
long g_lx_guarded;
__attribute__((noinline)) void lx_spin_update(long n) {
  while (g_lx_flag.exchange(true, std::memory_order_acquire)) asm volatile("pause");
  g_lx_guarded += n;
  g_lx_flag.store(false, std::memory_order_release);
  asm volatile("" ::: "memory");
  g_lx_after += n;
}

// A queue's wait: the mutex is locked, then the condition variable's wait re-takes it.
struct LxQueue {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
};
__attribute__((noinline)) void lx_wait(LxQueue* q) {
  std::unique_lock<std::mutex> l(q->mu);
  q->cv.wait(l, [q] { return q->ready; });
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

// The addresses of `fn`'s instructions that write the global at `addr` (RIP-relative).
std::set<uint64_t> writers_of(Symbolizer& sym, uint64_t fn, const void* addr) {
  std::set<uint64_t> out;
  for_each_function_instruction(sym, fn + 1, [&](uint64_t ip, const ZydisDecodedInstruction& insn,
                                                 const ZydisDecodedOperand* ops) {
    for (int i = 0; i < insn.operand_count_visible; ++i) {
      ZyanU64 a = 0;
      if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_RIP &&
          (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
          ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[i], ip, &a)) && a == reinterpret_cast<uint64_t>(addr))
        out.insert(ip);
    }
    return false;
  });
  return out;
}

TEST_F(LockExchangesTest, ASpinSectionIsTheCodeBetweenAcquireAndRelease) {
  const uint64_t fn = reinterpret_cast<uint64_t>(&lx_spin_hold);
  const SpinSection s = spin_lock_section(*sym_, fn + 1, reinterpret_cast<uint64_t>(&g_lx_hold_flag));
  ASSERT_TRUE(s.decoded);
  EXPECT_EQ(s.acquisitions, 1);
  EXPECT_EQ(s.releases, 1);  // the seq_cst store's xchg of a zeroed register releases
  EXPECT_TRUE(s.is_lock());
  const auto inside = writers_of(*sym_, fn, &g_lx_entered), before = writers_of(*sym_, fn, &g_lx_before),
             after = writers_of(*sym_, fn, &g_lx_after);
  ASSERT_EQ(inside.size(), 1u);
  ASSERT_FALSE(before.empty());
  ASSERT_FALSE(after.empty());
  EXPECT_TRUE(s.contains(*inside.begin()));
  for (uint64_t ip : before) EXPECT_FALSE(s.contains(ip)) << std::hex << ip;
  for (uint64_t ip : after) EXPECT_FALSE(s.contains(ip)) << std::hex << ip;
  // The exchange and the release are not in it.
  for (uint64_t ip : writers_of(*sym_, fn, &g_lx_hold_flag)) EXPECT_FALSE(s.contains(ip)) << std::hex << ip;
  // A counter's locked add is no acquisition: a hot atomic is not a lock.
  EXPECT_FALSE(spin_lock_section(*sym_, fn + 1, reinterpret_cast<uint64_t>(&g_lx_entered)).is_lock());
  // Another word, or no function: nothing.
  EXPECT_TRUE(spin_lock_section(*sym_, fn + 1, reinterpret_cast<uint64_t>(&g_lx_other_flag)).pcs.empty());
  EXPECT_FALSE(spin_lock_section(*sym_, 0x10, reinterpret_cast<uint64_t>(&g_lx_hold_flag)).decoded);
}

TEST_F(LockExchangesTest, AReleaseStoreEndsTheSection) {
  // tbb::spin_mutex's unlock: a plain store of 0 (`movb $0,g_lx_flag`); nothing between.
  const SpinSection s = spin_lock_section(*sym_, inside(lx_spin_static), reinterpret_cast<uint64_t>(&g_lx_flag));
  ASSERT_TRUE(s.decoded);
  EXPECT_EQ(s.acquisitions, 1);
  EXPECT_EQ(s.releases, 1);
  for (uint64_t ip : s.pcs) EXPECT_FALSE(writers_of(*sym_, reinterpret_cast<uint64_t>(&lx_spin_static), &g_lx_flag).count(ip));
}

TEST_F(LockExchangesTest, TheSectionWalkEndsAtTheReleaseStore) {
  // Walked from the section's entry (where the exchange succeeded), the release store to
  // the lock word is the unlock: the section writes g_lx_guarded and is self-contained.
  const uint64_t fn = reinterpret_cast<uint64_t>(&lx_spin_update);
  const uint64_t word = reinterpret_cast<uint64_t>(&g_lx_flag);
  const SpinSection s = spin_lock_section(*sym_, fn + 1, word);
  ASSERT_TRUE(s.is_lock());
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_TRUE(s.contains(*s.entries.begin()));
  const SectionExtent e = walk_critical_section(*sym_, *s.entries.begin(), 2000, word);
  EXPECT_TRUE(e.unlocked);
  EXPECT_TRUE(e.self_contained);
  EXPECT_EQ(e.reason, "release store");
  EXPECT_TRUE(e.writes_shared);
  // Without the word the store is one more store: the walk goes on to the return.
  EXPECT_NE(walk_critical_section(*sym_, *s.entries.begin()).reason, "release store");
}

// Where a thread was when a signal interrupted it (the memory sampler's sampled IP).
std::atomic<uint64_t> g_lx_sampled_ip;
void lx_on_signal(int, siginfo_t*, void* uc) {
  g_lx_sampled_ip.store(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
}

TEST_F(LockExchangesTest, TheHolderIsSampledInsideTheSectionAndTheSpinnerIsNot) {
  // Two real threads on one spin lock: the first holds it until told to leave, the second
  // spins for it. Interrupted with a signal as the sampler's timer interrupts them, the
  // holder's IP is always in the section and the spinner's never is.
  const uint64_t fn = reinterpret_cast<uint64_t>(&lx_spin_hold);
  const SpinSection s = spin_lock_section(*sym_, fn + 1, reinterpret_cast<uint64_t>(&g_lx_hold_flag));
  ASSERT_FALSE(s.pcs.empty());
  struct sigaction sa {}, old {};
  sa.sa_sigaction = lx_on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  g_lx_leave = false;
  g_lx_entered = 0;
  std::thread holder([] { lx_spin_hold(1); });
  while (g_lx_entered.load() == 0) std::this_thread::yield();
  std::thread spinner([] { lx_spin_hold(2); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto sample = [](std::thread& t) {
    g_lx_sampled_ip = 0;
    pthread_kill(t.native_handle(), SIGUSR2);
    while (g_lx_sampled_ip.load() == 0) std::this_thread::yield();
    return g_lx_sampled_ip.load();
  };
  int held = 0, spun = 0, holder_spinning = 0, spinner_spinning = 0;
  for (int i = 0; i < 20; ++i) {
    const uint64_t h = sample(holder), w = sample(spinner);
    held += s.contains(h);
    holder_spinning += s.spinning_at(h);
    spun += s.contains(w);
    spinner_spinning += s.spinning_at(w);
  }
  g_lx_leave = true;
  holder.join();
  spinner.join();
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(g_lx_entered.load(), 2);  // both took it: the spinner after the holder left
  EXPECT_EQ(held, 20);
  EXPECT_EQ(holder_spinning, 0);
  EXPECT_EQ(spun, 0);
  EXPECT_EQ(spinner_spinning, 20);  // in the acquisition loop: its samples are its wait
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

TEST_F(LockExchangesTest, AStaticArgumentIsReadFromTheCallSite) {
  const auto passed = [&](auto* fn) {
    const uint64_t ret = first_call_return(*sym_, reinterpret_cast<uint64_t>(fn));
    EXPECT_NE(ret, 0u);
    return ret ? static_call_argument(*sym_, ret, ZYDIS_REGISTER_RDI) : 0;
  };
  lx_pass_static();  // the calls happen (the words are the program's), and nothing else
  lx_pass_member();
  lx_pass_computed(3);
  EXPECT_EQ(passed(&lx_pass_static), reinterpret_cast<uint64_t>(&g_lx_flag));
  EXPECT_EQ(passed(&lx_pass_member), reinterpret_cast<uint64_t>(&g_lx_two_locks.second));
  EXPECT_EQ(passed(&lx_pass_computed), 0u);  // which flag is known only at run time
  // The second argument of the same calls was not set from a static address.
  EXPECT_EQ(static_call_argument(*sym_, first_call_return(*sym_, reinterpret_cast<uint64_t>(&lx_pass_static)),
                                 ZYDIS_REGISTER_RSI),
            0u);
  // Not the return address of a call: nothing is guessed.
  EXPECT_EQ(static_call_argument(*sym_, reinterpret_cast<uint64_t>(&lx_pass_static) + 1, ZYDIS_REGISTER_RDI), 0u);
  EXPECT_TRUE(is_guard_constructor("std::lock_guard<SpinLock>::lock_guard(SpinLock&)"));
  EXPECT_FALSE(is_guard_constructor("SpinLock::lock()"));
}

TEST_F(LockExchangesTest, AConditionVariablesWaitIsNotNamedByItsArgument) {
  // Its first argument is the condition variable, not the mutex whose futex the re-lock
  // waits on: no name from it. The mutex's own lock call is named.
  uint64_t start = 0;
  std::vector<uint8_t> code;
  ASSERT_TRUE(read_function_code(*sym_, reinterpret_cast<uint64_t>(&lx_wait) + 1, &start, &code));
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  std::map<std::string, std::string> by_callee;  // callee -> name
  for (size_t at = 0; at < code.size(); at += insn.length) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code.data() + at, code.size() - at, &insn, ops))) {
      insn.length = 1;
      continue;
    }
    ZyanU64 target = 0;
    if (insn.mnemonic != ZYDIS_MNEMONIC_CALL || ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE ||
        !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], start + at, &target)))
      continue;
    std::string callee = plt_target_name(*sym_, target);
    if (callee.empty()) callee = sym_->code(target).function;
    by_callee[callee] = lock_argument_name(*sym_, start + at + insn.length);
  }
  bool saw_wait = false;
  for (const auto& [callee, name] : by_callee)
    if (callee.find("condition_variable") != std::string::npos) {
      saw_wait = true;
      EXPECT_EQ(name, "") << callee;
    }
  EXPECT_TRUE(saw_wait) << ::testing::PrintToString(by_callee);
  ASSERT_TRUE(by_callee.count("pthread_mutex_lock")) << ::testing::PrintToString(by_callee);
  EXPECT_EQ(by_callee["pthread_mutex_lock"], "LxQueue.mu (via q)");
}

// tests/unit/rust_fixtures/heap_lock.rs, built with Debian's rustc where it is installed:
// started with a pipe on its stdin (it waits until the pipe closes) and read like a
// profiled process.
class RustHeapLockTest : public ::testing::Test {
 protected:
  virtual const char* fixture() const { return "rust_heap_lock"; }
  void SetUp() override {
    const std::string exe = std::string(CCPROF_BUILD_DIR) + "/fixtures/" + fixture();
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
    unsigned long long fn = 0, global = 0, arc = 0;
    ASSERT_EQ(fscanf(f, "count_word=%llx global=%llx count_word_arc=%llx", &fn, &global, &arc), 3);
    fclose(f);
    count_word_ = fn;
    global_ = global;
    count_word_arc_ = arc;
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
  uint64_t count_word_ = 0, global_ = 0, count_word_arc_ = 0;
  ProcessInfo proc_;
  std::unique_ptr<Symbolizer> sym_;
};

// The names lock_argument_name gives the calls in `fn` that are lock library code.
std::set<std::string> lock_call_names(Symbolizer& sym, uint64_t fn, int* lock_calls) {
  uint64_t start = 0;
  std::vector<uint8_t> code;
  std::set<std::string> names;
  if (!read_function_code(sym, fn + 1, &start, &code)) return names;
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction insn;
  for (size_t at = 0; at < code.size(); at += insn.length) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, nullptr, code.data() + at, code.size() - at, &insn))) {
      insn.length = 1;
      continue;
    }
    if (insn.mnemonic != ZYDIS_MNEMONIC_CALL) continue;
    const uint64_t ret = start + at + insn.length;
    if (!is_lock_library_code(sym.code(ret - 1)) && !is_lock_library_code(sym.code(start + at))) {
      // A debug build's call to the lock method: the callee is the lock library's.
      ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
      ZyanU64 target = 0;
      if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code.data() + at, code.size() - at, &insn, ops)) ||
          ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE ||
          !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], start + at, &target)) ||
          !is_lock_library_code(sym.code(target)))
        continue;
    }
    ++*lock_calls;
    if (std::string n = lock_argument_name(sym, ret); !n.empty()) names.insert(n);
  }
  return names;
}

TEST_F(RustHeapLockTest, AHeapMutexIsNamedByItsReferencesType) {
  // Every call in count_word that is std's inlined lock code (its contended slow path,
  // poison's panicking check): the one whose first argument is the lock word names the
  // Mutex by the type `table` points to, with the program's short type names.
  int lock_calls = 0;
  const std::set<std::string> names = lock_call_names(*sym_, count_word_, &lock_calls);
  EXPECT_GE(lock_calls, 1);
  EXPECT_EQ(names, std::set<std::string>{"Mutex<HashMap<u64, u64, RandomState>> (via table)"});
}

// The same program as a debug build: `table.lock()` calls Mutex<HashMap<u64, u64>>::lock
// out of line; through an Arc its argument is an unnamed temporary, and the method's
// `self` type names the lock.
class RustDebugHeapLockTest : public RustHeapLockTest {
 protected:
  const char* fixture() const override { return "rust_heap_lock_debug"; }
};

TEST_F(RustDebugHeapLockTest, ADebugBuildsMutexIsNamedByTheLockMethodsSelf) {
  int lock_calls = 0;
  const std::set<std::string> names = lock_call_names(*sym_, count_word_arc_, &lock_calls);
  EXPECT_GE(lock_calls, 1);
  EXPECT_TRUE(names.count("Mutex<HashMap<u64, u64, RandomState>>")) << ::testing::PrintToString(names);
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
