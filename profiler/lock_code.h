#pragma once
// What a lock's acquisition code says about the lock, read from the code on disk.
//
// The lock words a lock library's acquisition code exchanges, read from the code itself.
// oneTBB's tbb::spin_mutex never sleeps (it spins with pause, then calls sched_yield()),
// so no futex wait names its lock, and on a 2-CPU VM its spinning between yields is too
// short for the memory sampler (s01-tbb-spin-mutex bad, 2 s: 0 sampled accesses at its
// exchange). Its lock() is inlined into the user's function: `xchg %al, g_table(%rip)`.
// An atomic exchange whose memory operand is RIP-relative names its word with no sample
// at all; one through a register (a shard picked by hash, an object through a pointer)
// names none, and the caller must not guess which.
#include <Zydis/Zydis.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {

struct LockExchanges {
  bool decoded = false;             // the function's code was found and read
  std::set<uint64_t> static_words;  // the RIP-relative words of its atomic exchanges
  int computed = 0;                 // atomic exchanges whose word is computed from registers
};

// The code of the function that contains `pc` (its symbol's bounds), and where it starts.
bool read_function_code(Symbolizer& sym, uint64_t pc, uint64_t* start, std::vector<uint8_t>* code);

// Decodes the function that contains `pc` linearly from its start, calling f(ip, insn,
// ops) for each instruction (bytes that do not decode, padding or data, are skipped one
// at a time) until f returns true. False when its code cannot be read. With
// `wants_operands`, the operands of an instruction it refuses are not decoded (ops is
// then null): most of a decode's cost on a big function.
bool for_each_function_instruction(
    Symbolizer& sym, uint64_t pc,
    const std::function<bool(uint64_t ip, const ZydisDecodedInstruction& insn, const ZydisDecodedOperand* ops)>& f,
    bool (*wants_operands)(const ZydisDecodedInstruction& insn) = nullptr);

// Decodes the function that contains `pc` (its symbol's bounds) and collects its atomic
// read-modify-writes on memory (xchg with a memory operand, lock-prefixed instructions)
// whose code location `is_acquisition` accepts (e.g. the lock library's inlined lock()
// of one site; the program's own atomics are not lock acquisitions).
LockExchanges decode_lock_exchanges(Symbolizer& sym, uint64_t pc,
                                    const std::function<bool(const CodeLocation&)>& is_acquisition);

// Which instructions of a spinning lock's acquiring function run with the lock held: a
// lock that only spins (tbb::spin_mutex) keeps no owner and wakes no waiter, but a thread
// the memory sampler finds inside its critical section holds it. In the function that
// contains `pc`, for the lock word `word` (a static address): the acquisitions are its
// atomic exchanges of the word (xchg, lock cmpxchg, ...) but one that writes a zeroed
// register (`xor %eax,%eax; xchg %al,w`: a seq_cst release); the releases are the other
// writes of the word (`movb $0,w`). The section is every instruction reachable from an
// acquisition without passing a release, less those from which an acquisition is
// reachable again without one: the acquisition loop (test, pause, sched_yield, retry),
// where the waiters are sampled. Work the section does in a called function is not in
// it (a sample there does not say which caller it is in without its stack).
// An acquisition is an exchange, compare-exchange or bit-test-and-set of the word (the
// ways a lock is taken); any other write of it releases. The acquisition loop is the
// acquisitions themselves and the code that leads from one back to one without a
// release: a thread sampled there is spinning for the lock.
struct SpinSection {
  bool decoded = false;        // the function's code was read and decoded
  int acquisitions = 0, releases = 0;
  std::set<uint64_t> pcs;      // the section's instruction addresses
  std::set<uint64_t> spin_pcs;  // the acquisition loop's
  int retry_instructions = 0;   // of spin_pcs, those that are not an acquisition (the loop back)
  std::set<uint64_t> entries;   // the section's first instructions (where a taking succeeded)
  bool returns_held = false;    // a return on the section's path: the function takes the lock for its caller
  bool contains(uint64_t pc) const { return pcs.count(pc) != 0; }
  bool spinning_at(uint64_t pc) const { return spin_pcs.count(pc) != 0; }
  // A spin lock: taken, released, with code between, and a loop that retries the taking
  // (a fast path that calls its slow path, as Rust std's Mutex::lock, has no loop).
  bool is_lock() const { return acquisitions && releases && !pcs.empty() && retry_instructions > 0; }
};
// `word` 0: any word the function exchanges through a register (not the stack), as a lock
// function out of line takes its lock (`xchg %al,(%rdx)`, the word from `this`); only
// exchanges count then, as a plain store through a register may be another word's.
SpinSection spin_lock_section(Symbolizer& sym, uint64_t pc, uint64_t word);

// A lock in a heap object has no symbol ("the heap lock at 0x..."), but the code that
// locks it says what it is: the lock call's first argument is computed from a pointer
// (`lea 0x28(%rbx),%rdi; call pthread_mutex_lock@plt`), and DWARF says which variable
// holds that pointer there and what it points to: "Table.mu (via t)", "Table.mu" for
// `this`. `return_pc` is the lock call's return address in the user's code (a lock
// site's return_pcs). "" when the argument is not set right before the call from a
// register (`lea`s and `mov`s with no branch between: the same basic block) or DWARF has no
// variable in that register there (-O0 keeps pointers on the stack).
std::string lock_argument_name(Symbolizer& sym, uint64_t return_pc);

// A scope guard's constructor: `std::lock_guard<std::mutex>::lock_guard(std::mutex&)`,
// `absl::MutexLock::MutexLock(absl::Mutex*)`: the class's name, then itself as the member.
// Out of line (-O0) it takes the guard in rdi and the lock in rsi.
bool is_guard_constructor(std::string_view function);

// The static address the call that returns to `return_pc` passes in `reg` (ZYDIS_REGISTER_RDI:
// the first argument, a member function's `this`): `lea g_table(%rip),%rax; mov %rax,%rdi;
// call SpinLock::lock` gives &g_table, a member's constant offset (`lea 0x8(%rax)`, -O0's
// `add $0x8,%rax`) added. 0 when the register is set in no such way in the call's basic
// block: loaded from memory, computed at run time (`&g_shards[i]`), or set before the block.
uint64_t static_call_argument(Symbolizer& sym, uint64_t return_pc, ZydisRegister reg);

}  // namespace ccprof::profiler
