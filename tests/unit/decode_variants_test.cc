// The decoder on real code of three build modes, with real registers: a worker loop
// (tests/unit/decode_fixtures/worker_loops.c) built -O0, -O2 and -O2 stripped runs on
// a thread that a CPU-time timer interrupts; the signal handler records what the BPF
// sampler records (the interrupted registers and the two stack windows of
// bpf/sample.h), and the samples are decoded offline as `ccprof report` would.
// Every decoded address must be a real field of the worker's struct, its stop flag,
// or its own stack; and each mode's drop cause must be gone:
//   -O0       base_overwritten (pointer reloaded into the register it dereferences),
//   -O2       branch_target (gcc's rotated loop: the IP after the hot access is the
//             target of the loop-entry jump),
//   stripped  no_function (no symbol: bounds from .eh_frame).
#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "agent/proc.h"
#include "profiler/data_naming.h"
#include "profiler/decode_access.h"
#include "profiler/eh_frame_bounds.h"
#include "profiler/online_reducer.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {
namespace {

struct worker_args {
  long id, n, sum_x, sum_y;
  std::atomic<long> hits;
};
using worker_fn = void (*)(worker_args*, std::atomic<int>*);

// What the BPF program copies per sample (bpf/sample.h): registers, 256 bytes from
// rsp - 64 and, when rbp is a frame above rsp, the 256 bytes below rbp.
struct RawSample {
  UserRegs regs;
  uint64_t sp_addr, bp_addr;
  bool has_bp;
  uint8_t sp[256], bp[256];
};
constexpr int kMaxSamples = 4000;
RawSample g_samples[kMaxSamples];
std::atomic<int> g_count{0};

void on_prof(int, siginfo_t*, void* ucv) {
  const int i = g_count.load(std::memory_order_relaxed);
  if (i >= kMaxSamples) return;
  const auto* g = static_cast<ucontext_t*>(ucv)->uc_mcontext.gregs;
  RawSample& s = g_samples[i];
  const int order[kNumRegs] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
                               REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
  for (int r = 0; r < kNumRegs; ++r) s.regs[r] = static_cast<uint64_t>(g[order[r]]);
  const uint64_t sp = s.regs[kRsp], bp = s.regs[kRbp];
  // The kernel put the signal frame below the 128-byte red zone: rsp - 64 is intact.
  s.sp_addr = sp - 64;
  memcpy(s.sp, reinterpret_cast<const void*>(s.sp_addr), sizeof s.sp);
  s.has_bp = bp >= sp && bp - sp < (1u << 20);
  s.bp_addr = bp - 256;
  if (s.has_bp) memcpy(s.bp, reinterpret_cast<const void*>(s.bp_addr), sizeof s.bp);
  g_count.store(i + 1, std::memory_order_relaxed);
}

struct WorkerRun {
  worker_fn fn;
  worker_args* args;
  std::atomic<int>* stop;
  std::atomic<pid_t> tid{0};
};

void* run_worker(void* p) {
  auto* r = static_cast<WorkerRun*>(p);
  r->tid = gettid();
  r->fn(r->args, r->stop);
  return nullptr;
}

struct Outcome {
  uint64_t in_loop = 0, with_address = 0, touching_memory = 0;
  std::map<std::string, uint64_t> failures, recovered;
  uint64_t eh_frame = 0;
  std::map<long, uint64_t> field_hits;  // offset in worker_args -> decoded accesses
  uint64_t wrong = 0;                   // decoded addresses that are none of the expected ones
  std::map<std::string, uint64_t> names;  // data names of the accesses to worker_args (data_naming.h)
  // The same samples with only the stack words the agent keeps (online_reducer.cc):
  // accesses decoded or named differently, and names that came from a stack slot.
  uint64_t trimmed_differs = 0, named_from_stack = 0;
};

// Runs `symbol` of the fixture library `lib` on a thread sampled every 1 ms of its CPU
// time until `want` samples or 5 s, and decodes the samples with (or without) the
// stack windows.
class DecodeVariants : public ::testing::Test {
 protected:
  static std::string lib_path(const std::string& name) {
    return std::string(CCPROF_BUILD_DIR) + "/decode_fixtures/lib" + name + ".so";
  }

  void sample(const std::string& lib, const char* symbol, int want = 400) {
    handle_ = dlopen(lib_path(lib).c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
    auto fn = reinterpret_cast<worker_fn>(dlsym(handle_, symbol));
    ASSERT_NE(fn, nullptr) << symbol;
    lib_ = lib_path(lib);
    struct sigaction sa {};
    sa.sa_sigaction = on_prof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGPROF, &sa, nullptr);
    g_count = 0;
    args_ = new worker_args{7, 3, 0, 0, {0}};
    WorkerRun run{fn, args_, &stop_, {0}};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, nullptr, run_worker, &run), 0);
    clockid_t cpu_clock;
    ASSERT_EQ(pthread_getcpuclockid(t, &cpu_clock), 0);
    sigevent ev{};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGPROF;
    while (run.tid.load() == 0) usleep(1000);
    ev._sigev_un._tid = run.tid.load();
    timer_t timer;
    ASSERT_EQ(timer_create(cpu_clock, &ev, &timer), 0) << strerror(errno);
    itimerspec its{{0, 1000000}, {0, 1000000}};
    timer_settime(timer, 0, &its, nullptr);
    for (int i = 0; i < 500 && g_count.load() < want; ++i) usleep(10000);
    timer_delete(timer);
    stop_ = 1;
    pthread_join(t, nullptr);
    signal(SIGPROF, SIG_IGN);
    ASSERT_GE(g_count.load(), 50) << "the worker thread got too little CPU time to sample";
  }

  // Samples `symbol` of `lib`, decodes with the stack windows and prints the outcome
  // after `label`.
  Outcome sample_and_decode(const std::string& lib, const char* symbol, const char* label);

  Outcome decode(bool with_windows) {
    ProcessInfo p;
    p.pid = static_cast<uint32_t>(getpid());
    p.maps = *agent::read_maps(p.pid);
    Symbolizer sym(p);
    AccessDecoder dec(sym);
    Recording rec;
    rec.processes.push_back(p);
    auto reducer = make_online_reducer();
    Outcome o;
    const auto base = reinterpret_cast<uint64_t>(args_);
    for (int i = 0; i < g_count.load(); ++i) {
      const RawSample& s = g_samples[i];
      const MemoryMap* m = sym.map_of(s.regs[kRip]);
      if (!m || m->path != lib_) continue;  // in libc or the test itself
      ++o.in_loop;
      std::vector<StackWindow> windows;
      windows.push_back({s.sp_addr, {s.sp, s.sp + sizeof s.sp}});
      if (s.has_bp) windows.push_back({s.bp_addr, {s.bp, s.bp + sizeof s.bp}});
      DecodeResult r = dec.decode(s.regs[kRip], s.regs, 0, with_windows ? &windows : nullptr);
      if (r.eh_frame_bounds) ++o.eh_frame;
      if (!r.access) {
        ++o.failures[decode_failure_name(r.failure)];
        if (r.failure != DecodeFailure::kNoMemoryOperand && r.failure != DecodeFailure::kPreviousIsBranch)
          ++o.touching_memory;
        continue;
      }
      ++o.touching_memory;
      ++o.with_address;
      if (r.recovery != DecodeRecovery::kNone) ++o.recovered[decode_recovery_name(r.recovery)];
      const uint64_t a = r.access->data_addr;
      // What the agent keeps of the windows: the decoder must find the same access in it.
      MemorySample ms;
      ms.pid = p.pid;
      ms.regs = s.regs;
      ms.stack_windows = windows;
      std::vector<std::pair<uint64_t, uint32_t>> reads;
      std::vector<StackWindow> trimmed;
      model::SampleDecode online;
      if (with_windows && reducer->stack_reads(rec, ms, &reads, &online)) {
        // The drain thread's decode, which the analysis takes instead of decoding again.
        if (!online.access || online.access->data_addr != a || online.access->kind != r.access->kind ||
            online.access->size != r.access->size || online.recovery != r.recovery ||
            online.access->base_dwarf_reg != r.access->base_dwarf_reg ||
            online.access->base_value != r.access->base_value) {
          ++o.trimmed_differs;
          ADD_FAILURE() << std::hex << "sample at 0x" << s.regs[kRip] << ": the reducer's decode differs";
        }
        for (const auto& [lo, n] : reads)
          for (const auto& w : windows) {
            const uint64_t x = std::max(lo, w.addr), y = std::min(lo + n, w.addr + w.bytes.size());
            if (x < y) trimmed.push_back({x, {w.bytes.begin() + (x - w.addr), w.bytes.begin() + (y - w.addr)}});
          }
      }
      if (with_windows) {
        DecodeResult t = dec.decode(s.regs[kRip], s.regs, 0, &trimmed);
        if (!t.access || t.access->data_addr != a) {
          ++o.trimmed_differs;
          ADD_FAILURE() << std::hex << "sample at 0x" << s.regs[kRip] << " decodes differently from the kept words";
        }
      }
      if (a >= base && a < base + sizeof(worker_args)) {
        ++o.field_hits[static_cast<long>(a - base)];
        auto reader = [](const std::vector<StackWindow>& ws) {
          return [&ws](uint64_t addr) -> std::optional<uint64_t> {
            for (const auto& w : ws)
              if (addr >= w.addr && addr + 8 <= w.addr + w.bytes.size()) {
                uint64_t v;
                memcpy(&v, w.bytes.data() + (addr - w.addr), 8);
                return v;
              }
            return std::nullopt;
          };
        };
        const SampleFrame frame{&s.regs, reader(windows)};
        if (r.access->base_dwarf_reg >= 0 && a >= r.access->base_value) {
          const std::string name = pointee_member_name(sym, r.access->insn_addr, r.access->base_dwarf_reg,
                                                       a - r.access->base_value, &frame, r.access->base_value);
          ++o.names[name];
          if (with_windows) {
            const SampleFrame kept{&s.regs, reader(trimmed)};
            const std::string from_kept = pointee_member_name(
                sym, r.access->insn_addr, r.access->base_dwarf_reg, a - r.access->base_value, &kept, r.access->base_value);
            if (from_kept != name) {
              ++o.trimmed_differs;
              ADD_FAILURE() << "named " << name << " from the whole windows, " << from_kept << " from the kept words";
            }
            if (!name.empty() &&
                pointee_member_name(sym, r.access->insn_addr, r.access->base_dwarf_reg, a - r.access->base_value)
                    .empty())
              ++o.named_from_stack;
          }
        }
      } else if (a == reinterpret_cast<uint64_t>(&stop_)) {
        ++o.field_hits[-1];
      } else if (!(a + 512 >= s.regs[kRsp] && a < s.regs[kRsp] + 4096)) {
        ++o.wrong;  // not the thread's own stack either
        ADD_FAILURE() << std::hex << "sample at 0x" << s.regs[kRip] << " decoded to 0x" << a;
      }
    }
    return o;
  }

  void TearDown() override {
    if (handle_) dlclose(handle_);
    delete args_;
  }

  void* handle_ = nullptr;
  std::string lib_;
  worker_args* args_ = nullptr;
  std::atomic<int> stop_{0};
};

std::string describe(const Outcome& o) {
  std::string s = "samples in the loop " + std::to_string(o.in_loop) + ", with address " +
                  std::to_string(o.with_address) + ";";
  for (const auto& [k, v] : o.failures) s += " " + k + "=" + std::to_string(v);
  for (const auto& [k, v] : o.recovered) s += " recovered " + k + "=" + std::to_string(v);
  return s;
}

Outcome DecodeVariants::sample_and_decode(const std::string& lib, const char* symbol, const char* label) {
  sample(lib, symbol);
  Outcome o = decode(true);
  std::cout << label << ": " << describe(o) << "\n";
  return o;
}

TEST_F(DecodeVariants, O0PointerReloadedIntoItsBaseIsRecoveredFromTheStackSlot) {
  sample("worker_O0", "worker_accumulate");
  Outcome before = decode(false);
  Outcome after = decode(true);
  // Printed: the yield figures of the README come from these lines.
  std::cout << "-O0 without stack windows: " << describe(before) << "\n-O0 with stack windows: " << describe(after)
            << "\n";
  SCOPED_TRACE("without stack windows: " + describe(before));
  SCOPED_TRACE("with stack windows: " + describe(after));
  ASSERT_GT(after.in_loop, 40u);
  EXPECT_GT(before.failures["base_overwritten"], 0u) << "the -O0 loop no longer reloads its base: test is moot";
  EXPECT_GT(after.recovered["base_from_stack"], 0u);
  // The bar: >= 80% of the samples whose instruction touched memory.
  EXPECT_GE(after.with_address, after.touching_memory * 8 / 10);
  EXPECT_LE(after.failures["base_overwritten"] * 10, before.failures["base_overwritten"]);
  // sum_x (16) and sum_y (24) are read and written through the reloaded pointer.
  EXPECT_GT(after.field_hits[16], 0u);
  EXPECT_GT(after.field_hits[24], 0u);
  EXPECT_EQ(after.wrong, 0u);
  // The heap struct is named by the type of the pointer the -O0 code reloaded from its
  // stack slot (`a` or its copy `p`: both slots hold it).
  uint64_t typed = 0, accesses = 0;
  for (const auto& [name, n] : after.names) {
    accesses += n;
    if (name.rfind("worker_args.", 0) == 0 && name.find(" (via ") != std::string::npos) typed += n;
  }
  EXPECT_GT(accesses, 0u);
  EXPECT_GE(typed * 10, accesses * 9) << testing::PrintToString(after.names);
  EXPECT_GT(after.names["worker_args.sum_x (via a)"] + after.names["worker_args.sum_x (via p)"], 0u);
  // The agent keeps one stack word of such a sample (the pointer's slot), and it is
  // enough to decode and name the access as the whole windows do.
  EXPECT_GT(after.named_from_stack, 0u);
  EXPECT_EQ(after.trimmed_differs, 0u);
}

TEST_F(DecodeVariants, O2RotatedLoopTakesTheFallThroughPredecessor) {
  Outcome o = sample_and_decode("worker_O2", "worker_count_hits", "-O2 rotated loop");
  SCOPED_TRACE(describe(o));
  ASSERT_GT(o.in_loop, 40u);
  // The hot `lock addq $1,0x20(%rdi)` is followed by the loop condition, the target
  // of the loop-entry jump: without the CFG rule all its samples were branch_target.
  EXPECT_GT(o.recovered["loop_fall_through"], 0u);
  EXPECT_GT(o.field_hits[32], 0u);  // hits
  EXPECT_LE(o.failures["branch_target"] * 10, o.recovered["loop_fall_through"]);
  EXPECT_EQ(o.wrong, 0u);
  EXPECT_GT(o.names["worker_args.hits (via a)"], 0u) << testing::PrintToString(o.names);
  EXPECT_EQ(o.trimmed_differs, 0u);  // named by the register: no stack word kept
}

TEST_F(DecodeVariants, StrippedCodeIsDecodedWithEhFrameBounds) {
  Outcome o = sample_and_decode("worker_stripped", "worker_accumulate", "-O2 stripped");
  SCOPED_TRACE(describe(o));
  ASSERT_GT(o.in_loop, 40u);
  EXPECT_EQ(o.failures["no_function"], 0u);
  EXPECT_GT(o.eh_frame, 0u);
  // The vectorised -O2 store covers sum_x and sum_y (16 bytes at offset 16).
  EXPECT_GT(o.field_hits[16], 0u);
  EXPECT_EQ(o.wrong, 0u);
}

TEST(EhFrameBounds, EveryFunctionOfTheStrippedFixtureHasAnFde) {
  // The stripped library has no symbols; its unwind table still bounds every function,
  // and these bounds match the symbols of the unstripped twin.
  auto ranges_of = [](const std::string& path) {
    std::vector<FunctionBounds> out;
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return out;
    elf_version(EV_CURRENT);
    Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
    out = read_eh_frame_functions(elf);
    elf_end(elf);
    close(fd);
    return out;
  };
  const std::string dir = std::string(CCPROF_BUILD_DIR) + "/decode_fixtures/";
  auto stripped = ranges_of(dir + "libworker_stripped.so");
  auto unstripped = ranges_of(dir + "libworker_O2.so");
  ASSERT_GE(stripped.size(), 4u);  // accumulate, count_hits and the two exported entry points
  ASSERT_EQ(stripped.size(), unstripped.size());
  void* h = dlopen((dir + "libworker_O2.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr);
  Dl_info info;
  ASSERT_NE(dladdr(dlsym(h, "worker_count_hits"), &info), 0);
  const uint64_t rel = reinterpret_cast<uint64_t>(dlsym(h, "worker_count_hits")) -
                       reinterpret_cast<uint64_t>(info.dli_fbase);
  const FunctionBounds* b = find_function_bounds(stripped, rel);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->start, rel);
  EXPECT_EQ(find_function_bounds(stripped, 0), nullptr);
  dlclose(h);
}

// Rules group a function's instructions by function_identity(): in stripped code
// without debug info it must be the .eh_frame function, the same for every
// instruction of one function and different between functions (grouping all
// symbol-less code under one empty name once made s01's lock look read-mostly).
TEST(StrippedSymbolizer, FunctionIdentityIsTheEhFrameFunction) {
  const std::string path = std::string(CCPROF_BUILD_DIR) + "/decode_fixtures/libworker_stripped.so";
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  Dl_info info;
  ASSERT_NE(dladdr(dlsym(h, "worker_count_hits"), &info), 0);
  const auto base = reinterpret_cast<uint64_t>(info.dli_fbase);
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  auto ranges = read_eh_frame_functions(elf);
  elf_end(elf);
  close(fd);
  ASSERT_GE(ranges.size(), 4u);
  ProcessInfo p;
  p.pid = static_cast<uint32_t>(getpid());
  p.maps = *agent::read_maps(p.pid);
  Symbolizer sym(p);
  std::set<std::string> identities;
  for (const auto& r : ranges) {
    if (r.end - r.start < 4) continue;
    const CodeLocation first = sym.code(base + r.start + 1);
    const CodeLocation last = sym.code(base + r.end - 2);
    EXPECT_EQ(function_identity(first), function_identity(last)) << first.function << " vs " << last.function;
    EXPECT_FALSE(function_identity(first).empty());
    identities.insert(function_identity(first));
  }
  EXPECT_GE(identities.size(), 4u);  // one per function
  dlclose(h);
}

}  // namespace
}  // namespace ccprof::profiler
