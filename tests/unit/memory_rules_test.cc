#include "profiler/memory_rules.h"

#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "tests/unit/rule_test_util.h"

namespace ccprof::profiler {
namespace {

constexpr uint64_t kLine = 0x55d1c0a04080;

MemoryRuleEnv env_for(std::map<uint32_t, uint64_t> thread_samples) {
  MemoryRuleEnv env;
  env.code = [](uint32_t, uint64_t ip) {
    CodeLocation c;
    c.function = ip >= 0x402000 ? "read_config_locked" : "bump";
    c.inline_chain = {c.function};
    c.file = "/src/w.cc";
    c.line = static_cast<int>(ip & 0xff);
    return c;
  };
  env.data_name = [](uint32_t, uint64_t a) {
    if (a >= kLine && a < kLine + 64) return absl::StrFormat("g_counters[%d]", (a - kLine) / 8);
    return absl::StrFormat("0x%x", a);
  };
  env.region = [](uint32_t, uint64_t) { return std::string("global"); };
  env.comm = [](uint32_t) { return std::string("worker"); };
  env.thread_samples = std::move(thread_samples);
  env.period_s = 0.001;
  env.total_thread_s = 8;
  return env;
}

void add(CacheLineTable& t, uint32_t tid, uint64_t addr, AccessKind k, int n, uint64_t ip, uint64_t t0 = 1000) {
  for (int i = 0; i < n; ++i) {
    MemoryAccess a;
    a.pid = 1;
    a.tid = tid;
    a.time_ns = t0 + i * 1000;
    a.insn_addr = ip;
    a.data_addr = addr;
    a.size = 8;
    a.kind = k;
    t.add(a);
  }
}

TEST(MemoryRules, FalseSharingOfPerThreadSlots) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 4; ++i) {
    add(t, 100 + i, kLine + 8 * i, AccessKind::kRead, 80, 0x401010);
    add(t, 100 + i, kLine + 8 * i, AccessKind::kWrite, 15, 0x401017);
  }
  auto env = env_for({{100, 100}, {101, 100}, {102, 100}, {103, 100}});
  auto fs = cacheline_findings(t, env);
  ASSERT_FINDING(f, fs, "false-sharing");
  EXPECT_NE(f->explanation.find("4 threads wrote offsets 0, 8, 16 and 24"), std::string::npos) << f->explanation;
  EXPECT_NE(f->explanation.find("95% of their samples"), std::string::npos) << f->explanation;
  EXPECT_NEAR(f->cost_thread_s, 4 * 95 * 0.001, 1e-9);
  EXPECT_EQ(f->evidence["cache_line"]["address"], absl::StrFormat("0x%x", kLine));
  EXPECT_EQ(f->evidence["cache_line"]["name"], "g_counters");
  EXPECT_EQ(f->evidence["cache_line"]["offsets"].size(), 4u);
  EXPECT_EQ(f->evidence["cache_line"]["offsets"][1]["member"], "g_counters[1]");
  ASSERT_FALSE(f->locations.empty());
  EXPECT_EQ(f->locations[0].function, "bump");
  EXPECT_FALSE(find_kind(fs, "hot-atomic"));
}

// In a Python process the instructions are the interpreter's: the script's lines that ran
// the line's accesses (env.python_sites, profiler/python_reads.h) come first.
TEST(MemoryRules, PythonSitesOfTheLineComeBeforeTheInterpretersInstructions) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 4; ++i) {
    add(t, 100 + i, kLine + 8 * i, AccessKind::kRead, 80, 0x401010);
    add(t, 100 + i, kLine + 8 * i, AccessKind::kWrite, 15, 0x401017);
  }
  auto env = env_for({{100, 100}, {101, 100}, {102, 100}, {103, 100}});
  std::vector<std::tuple<uint32_t, uint64_t, std::set<uint32_t>>> asked;
  env.python_sites = [&asked](uint32_t pid, uint64_t line, const std::set<uint32_t>& offsets) {
    asked.emplace_back(pid, line, offsets);
    SourceLocation s;
    s.function = "hammer";
    s.file = "/w/a.py";
    s.line = 18;
    s.share = 1;
    return std::vector<SourceLocation>{s};
  };
  auto fs = cacheline_findings(t, env);
  ASSERT_FINDING(f, fs, "false-sharing");
  ASSERT_GE(f->locations.size(), 2u);
  EXPECT_EQ(f->locations[0].file, "/w/a.py");
  EXPECT_EQ(f->locations[0].line, 18);
  EXPECT_EQ(f->locations[1].function, "bump");
  ASSERT_FALSE(asked.empty());
  EXPECT_EQ(std::get<0>(asked.back()), 1u);
  EXPECT_EQ(std::get<1>(asked.back()), kLine);
  EXPECT_EQ(std::get<2>(asked.back()), (std::set<uint32_t>{0, 8, 16, 24}));
}

// Per-thread rows of 80 bytes in one allocation: every row boundary is a line two
// threads share. Each line alone is 8% of its threads' samples (under the 10% floor);
// the same store instruction shares all three, 12% of the four threads' samples
// together: the rows cost as one. The same lines written by three different pieces of
// code are three 8% lines, each under the floor.
TEST(MemoryRules, LinesOneStoreSharesCostTogether) {
  auto rows = [](bool one_store) {
    CacheLineTable t;
    for (uint32_t i = 0; i < 3; ++i) {
      const uint64_t line = kLine + 64 * (i + 1);
      const uint64_t ip = one_store ? 0x401017 : 0x401017 + 0x10 * i;
      add(t, 100 + i, line, AccessKind::kWrite, 10, ip);       // the end of thread i's row
      add(t, 101 + i, line + 32, AccessKind::kWrite, 10, ip);  // the start of thread i+1's
    }
    return t;
  };
  // 100 and 103 share one line each, 101 and 102 two: 10 of 130 samples per line and
  // thread (each line 20 of its two threads' 260 = 8%; together 60 of 520 = 12%).
  auto env = env_for({{100, 130}, {101, 130}, {102, 130}, {103, 130}});
  auto fs = cacheline_findings(rows(true), env);
  ASSERT_FINDING(f, fs, "false-sharing");
  EXPECT_NE(f->explanation.find("8% of their samples were accesses to this line"), std::string::npos) << f->explanation;
  EXPECT_NE(f->explanation.find("falsely share 2 other lines: those threads spent 12% of their samples on the 3 lines"),
            std::string::npos)
      << f->explanation;
  EXPECT_EQ(f->evidence["falsely_shared_lines"]["lines"], 3);
  EXPECT_FALSE(find_kind(cacheline_findings(rows(false), env), "false-sharing"));
}

// A line's code is its main store. The sampler catches other stores of the same code on
// some lines and not on others (B on the second line): those lines still cost together.
// A generic store that wrote a little of every line (M, a memcpy) does not join
// unrelated code: the third line, C's, stays alone under the floor.
TEST(MemoryRules, LinesGroupByTheirMainStore) {
  CacheLineTable t;
  const uint64_t a = 0x401017, b = 0x40101e, c = 0x401100, m = 0x7f0000001000;
  const uint64_t l0 = kLine + 64, l1 = kLine + 128, l2 = kLine + 192;
  add(t, 100, l0, AccessKind::kWrite, 10, a);
  add(t, 100, l0, AccessKind::kWrite, 1, m);
  add(t, 101, l0 + 32, AccessKind::kWrite, 10, a);
  add(t, 101, l1, AccessKind::kWrite, 8, a);
  add(t, 101, l1, AccessKind::kWrite, 2, b);
  add(t, 102, l1 + 32, AccessKind::kWrite, 10, a);
  add(t, 102, l1 + 32, AccessKind::kWrite, 1, m);
  add(t, 102, l2, AccessKind::kWrite, 10, c);
  add(t, 103, l2 + 32, AccessKind::kWrite, 10, c);
  add(t, 103, l2 + 32, AccessKind::kWrite, 1, m);
  // A's two lines: 41 of threads 100-102's 390 samples (10.5%; each line alone 8%).
  // C's line: 21 of 260 (8%); chained to A's through M it would be 62 of 520 (12%).
  auto env = env_for({{100, 130}, {101, 130}, {102, 130}, {103, 130}});
  auto fs = cacheline_findings(t, env);
  std::set<std::string> raised;
  for (const auto& f : fs)
    if (f.kind == "false-sharing") {
      raised.insert(f.evidence["cache_line"]["address"].get<std::string>());
      EXPECT_EQ(f.evidence["falsely_shared_lines"]["lines"], 2) << f.explanation;
      EXPECT_NE(f.explanation.find("those threads spent 11% of their samples on the 2 lines"), std::string::npos)
          << f.explanation;
    }
  EXPECT_EQ(raised, (std::set<std::string>{absl::StrFormat("0x%x", l0), absl::StrFormat("0x%x", l1)}));
}

TEST(MemoryRules, PaddedSlotsAreNotFalseSharing) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 4; ++i) add(t, 100 + i, kLine + 64 * i, AccessKind::kWrite, 90, 0x401017);
  auto fs = cacheline_findings(t, env_for({{100, 100}, {101, 100}, {102, 100}, {103, 100}}));
  EXPECT_TRUE(fs.empty());
}

TEST(MemoryRules, ThreadsThatNeverOverlapInTimeAreNotFalseSharing) {
  CacheLineTable t;
  add(t, 100, kLine, AccessKind::kWrite, 50, 0x401017, 1000);
  add(t, 101, kLine + 8, AccessKind::kWrite, 50, 0x401017, 10'000'000);
  EXPECT_TRUE(cacheline_findings(t, env_for({{100, 60}, {101, 60}})).empty());
}

TEST(MemoryRules, SharedWordUnderLockedAddIsAHotAtomicNotFalseSharing) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 3; ++i) add(t, 100 + i, kLine, AccessKind::kLockedRmw, 60, 0x401020);
  auto fs = cacheline_findings(t, env_for({{100, 100}, {101, 100}, {102, 100}}));
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].kind, "hot-atomic");
  EXPECT_EQ(fs[0].remedy.kind, "shard-counter");
  EXPECT_EQ(fs[0].scenario, 12);
}

TEST(MemoryRules, CompareExchangeLoopIsACasRetryStorm) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 4; ++i) {
    add(t, 100 + i, kLine + 16, AccessKind::kRead, 20, 0x401030);
    add(t, 100 + i, kLine + 16, AccessKind::kCas, 40, 0x401038);
  }
  auto fs = cacheline_findings(t, env_for({{100, 100}, {101, 100}, {102, 100}, {103, 100}}));
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].kind, "cas-retry-storm");
  EXPECT_EQ(fs[0].remedy.kind, "shard");
  EXPECT_EQ(fs[0].evidence["word"]["cas"], 160);
}

// A thread's own CAS loop, and one CAS by another thread (main filling the stacks
// before the workers start, s11 fixed): one contending thread, no storm.
TEST(MemoryRules, ASingleCasByAnotherThreadIsNoStorm) {
  CacheLineTable t;
  add(t, 100, kLine + 16, AccessKind::kCas, 381, 0x401038);
  add(t, 101, kLine + 16, AccessKind::kCas, 1, 0x401038);
  EXPECT_TRUE(cacheline_findings(t, env_for({{100, 400}, {101, 50}})).empty());
  add(t, 101, kLine + 16, AccessKind::kCas, 40, 0x401038);  // the second thread contends too
  auto fs = cacheline_findings(t, env_for({{100, 400}, {101, 50}}));
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].kind, "cas-retry-storm");
}

// The cost decides whether a hot word is a finding, the instruction mix which one: a
// word that only sees compare-exchanges is a CAS loop even at 15% of the samples.
TEST(MemoryRules, ACheaperCompareExchangeLoopIsStillACasLoop) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 4; ++i) add(t, 100 + i, kLine + 16, AccessKind::kCas, 15, 0x401038);
  auto fs = cacheline_findings(t, env_for({{100, 100}, {101, 100}, {102, 100}, {103, 100}}));
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].kind, "cas-retry-storm");
  CacheLineTable few;  // 8% of the samples: too cheap to be worth a finding
  for (uint32_t i = 0; i < 4; ++i) add(few, 100 + i, kLine + 16, AccessKind::kCas, 8, 0x401038);
  EXPECT_TRUE(cacheline_findings(few, env_for({{100, 100}, {101, 100}, {102, 100}, {103, 100}})).empty());
}

// The same compare-and-swap loop, but in a lock library's code: absl::Mutex::Lock's
// spinning in libabsl_synchronization, or std's Mutex::lock inlined into a Rust
// function. That is lock acquisition (the lock rules' business), never a storm.
TEST(MemoryRules, ALockLibrarysCompareExchangeIsNotACasRetryStorm) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 4; ++i) {
    add(t, 100 + i, kLine + 16, AccessKind::kRead, 20, 0x401030);
    add(t, 100 + i, kLine + 16, AccessKind::kCas, 40, 0x401038);
  }
  auto env = env_for({{100, 100}, {101, 100}, {102, 100}, {103, 100}});
  env.code = [](uint32_t, uint64_t) {
    CodeLocation c;
    c.function = "absl::debian3::Mutex::Lock";
    c.inline_chain = {c.function};
    c.module = "/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623.0.0";
    return c;
  };
  EXPECT_TRUE(cacheline_findings(t, env).empty());
  env.code = [](uint32_t, uint64_t) {
    CodeLocation c;
    c.module = "/work/build/workloads/s01-rust-std-mutex";
    c.inline_levels = {{"core::sync::atomic::AtomicU32::compare_exchange", "/rustc/x/library/core/src/sync/atomic.rs", 1},
                       {"std::sys::unix::locks::futex::Mutex::lock", "/rustc/x/library/std/src/sys/unix/locks/futex.rs", 2},
                       {"s01_rust_std_mutex::count_word_shared", "/work/tests/workloads/rust/src/bin/s.rs", 3}};
    for (const auto& lv : c.inline_levels) c.inline_chain.push_back(lv.function);
    c.function = "s01_rust_std_mutex::count_word_shared";
    c.file = "/work/tests/workloads/rust/src/bin/s.rs";
    return c;
  };
  EXPECT_TRUE(cacheline_findings(t, env).empty());
}

TEST(MemoryRules, AMutexWordIsNotAHotAtomic) {
  CacheLineTable t;
  for (uint32_t i = 0; i < 3; ++i) add(t, 100 + i, kLine, AccessKind::kCas, 60, 0x401020);
  auto env = env_for({{100, 100}, {101, 100}, {102, 100}});
  env.lock_words.insert({1, kLine});
  EXPECT_TRUE(cacheline_findings(t, env).empty());
}

TEST(MemoryRules, FewSamplesOnALineSayNothing) {
  CacheLineTable t;
  add(t, 100, kLine, AccessKind::kWrite, 6, 0x401017);
  add(t, 101, kLine + 8, AccessKind::kWrite, 6, 0x401017);
  EXPECT_TRUE(cacheline_findings(t, env_for({{100, 10}, {101, 10}})).empty());
}

std::vector<MemoryAccess> accesses(std::initializer_list<std::tuple<uint64_t, uint64_t, AccessKind, int>> spec) {
  std::vector<MemoryAccess> out;
  for (auto [ip, addr, kind, n] : spec)
    for (int i = 0; i < n; ++i) {
      MemoryAccess a;
      a.pid = 1;
      a.tid = 100 + i % 3;
      a.insn_addr = ip;
      a.data_addr = addr;
      a.size = 8;
      a.kind = kind;
      out.push_back(a);
    }
  return out;
}

ContendedLock lock_taken_in(const std::string& fn) {
  ContendedLock l;
  l.pid = 1;
  l.uaddr = 0x55d1c0a05000;
  l.name = "g_config_mutex";
  CodeLocation site;
  site.function = fn;
  site.inline_chain = {"std::mutex::lock", fn};
  l.sites.push_back(site);
  l.wait_s = 1.5;
  l.share = 0.4;
  return l;
}

TEST(MemoryRules, LockWhoseCriticalSectionOnlyReadsIsReadMostly) {
  auto acc = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kRead, 30},
                       {0x402018, 0x55d1c0a06008, AccessKind::kRead, 30},
                       {0x402020, 0x55d1c0a05000, AccessKind::kCas, 30}});  // the mutex word: ignored
  auto fs = lock_access_findings(acc, {lock_taken_in("read_config_locked")}, env_for({}));
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].kind, "read-mostly-lock");
  EXPECT_EQ(fs[0].remedy.kind, "rwlock-or-snapshot");
  EXPECT_DOUBLE_EQ(fs[0].cost_thread_s, 1.5);
  EXPECT_EQ(fs[0].evidence["critical_section"]["samples"], 60);
}

// The same reads, but most of the lock's sampled waits acquire it shared (Rust's
// RwLock::read, shared_mutex::lock_shared): the readers already share it and wait only
// for a writer. No read-mostly verdict, and the evidence says why; its twin below half.
TEST(MemoryRules, ReadersThatTakeTheLockSharedAreNotReadMostly) {
  auto acc = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kRead, 30},
                       {0x402018, 0x55d1c0a06008, AccessKind::kRead, 30}});
  ContendedLock lock = lock_taken_in("read_config_locked");
  lock.shared_share = 0.84;
  auto fs = lock_access_findings(acc, {lock}, env_for({}));
  EXPECT_EQ(find_kind(fs, "read-mostly-lock"), nullptr);
  lock.shared_share = 0.4;  // most waiters take it exclusively: readers do exclude each other
  EXPECT_NE(find_kind(lock_access_findings(acc, {lock}, env_for({})), "read-mostly-lock"), nullptr);
}

// A Rust Mutex<Config> keeps its Config right after the lock word (+8, inside what would
// be a pthread_mutex_t's 40 bytes): the program's own reads there are the guarded data;
// the lock library's code on those bytes, and atomics there, are the lock's.
TEST(MemoryRules, DataRightAfterALockWordIsTheGuardedData) {
  const uint64_t lock_word = 0x55d1c0a05000;
  auto env = env_for({});
  env.code = [](uint32_t, uint64_t ip) {
    CodeLocation c;
    c.function = "read_config_locked";
    c.inline_chain = {c.function};
    c.file = "/src/w.rs";
    c.has_debug_info = true;
    if (ip >= 0x402100) {  // std's inlined lock code (the poison flag's load)
      c.inline_levels = {{"std::sync::poison::Flag::get", "/usr/src/rustc-1.63.0/library/std/src/sync/poison.rs", 37},
                         {"read_config_locked", "/src/w.rs", 10}};
      c.inline_chain = {"std::sync::poison::Flag::get", "read_config_locked"};
    }
    return c;
  };
  auto acc = accesses({{0x402010, lock_word + 8, AccessKind::kRead, 15},    // Config.version
                       {0x402018, lock_word + 16, AccessKind::kRead, 15},   // Config.timeout_ms
                       {0x402100, lock_word + 4, AccessKind::kRead, 30},    // the poison flag: the lock's
                       {0x402020, lock_word, AccessKind::kCas, 30}});       // the lock word: the lock's
  auto fs = lock_access_findings(acc, {lock_taken_in("read_config_locked")}, env);
  const Finding* f = find_kind(fs, "read-mostly-lock");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence["critical_section"]["samples"], 30);
  // Without debug info nothing says whose code it is: the 40 bytes stay the lock's.
  env.code = [](uint32_t, uint64_t) {
    CodeLocation c;
    c.function = "read_config_locked";
    c.inline_chain = {c.function};
    return c;
  };
  EXPECT_EQ(find_kind(lock_access_findings(acc, {lock_taken_in("read_config_locked")}, env), "read-mostly-lock"),
            nullptr);
}

// Mostly reads, but the one function that holds the lock also stores in its section
// (a queue's pop at -O0: several loads for each store): there is no reader to give a
// reader lock to. No read-mostly verdict, and the evidence says why.
TEST(MemoryRules, MostlyReadsWithoutAFunctionThatOnlyReadsIsNotReadMostly) {
  auto acc = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kRead, 30},
                       {0x402018, 0x55d1c0a06008, AccessKind::kRead, 30},
                       {0x402020, 0x55d1c0a06008, AccessKind::kWrite, 2}});
  auto fs = lock_access_findings(acc, {lock_taken_in("read_config_locked")}, env_for({}));
  EXPECT_EQ(find_kind(fs, "read-mostly-lock"), nullptr);
  ASSERT_FALSE(fs.empty());
  EXPECT_NE(fs[0].evidence["critical_section"].value("not_judged", "").find("there is no reader"), std::string::npos)
      << fs[0].evidence.dump();
  // The same samples with the stores in another function (a writer beside the readers):
  // read-mostly, as before.
  auto split = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kRead, 30},
                         {0x402018, 0x55d1c0a06008, AccessKind::kRead, 30},
                         {0x401020, 0x55d1c0a06008, AccessKind::kWrite, 2}});
  ContendedLock both = lock_taken_in("read_config_locked");
  CodeLocation writer;
  writer.function = "bump";
  writer.inline_chain = {"std::mutex::lock", "bump"};
  both.sites.push_back(writer);
  EXPECT_NE(find_kind(lock_access_findings(split, {both}, env_for({})), "read-mostly-lock"), nullptr);
}

// The readers' lock call returns to 0x402008; what their critical section does after it
// decides whether the samples in read_config_locked show all of it.
TEST(MemoryRules, ReadsOnlySampledBeforeACallAreNotReadMostly) {
  auto acc = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kRead, 30},
                       {0x402018, 0x55d1c0a06008, AccessKind::kRead, 30}});
  ContendedLock lock = lock_taken_in("read_config_locked");
  lock.site_pcs = {0x402008};
  MemoryRuleEnv env = env_for({});
  std::vector<uint64_t> walked;
  auto with_extent = [&](SectionExtent e) {
    env.section_extent = [&walked, e](uint32_t, uint64_t pc, uint64_t) {
      walked.push_back(pc);
      return e;
    };
    return lock_access_findings(acc, {lock}, env);
  };
  // The section calls the program's own `bump` (not inlined): one store there per
  // acquisition would not show in these samples. No read-mostly verdict.
  auto fs = with_extent({true, false, "calls bump"});
  EXPECT_EQ(walked, std::vector<uint64_t>{0x402008});
  EXPECT_EQ(find_kind(fs, "read-mostly-lock"), nullptr);
  // Reaching the unlock within the function: the samples show the whole section.
  fs = with_extent({true, true, "unlock"});
  EXPECT_NE(find_kind(fs, "read-mostly-lock"), nullptr);
  // Code that cannot be read: the samples alone decide, as before.
  fs = with_extent({false, false, "no code"});
  EXPECT_NE(find_kind(fs, "read-mostly-lock"), nullptr);
  // Reaching the unlock but storing to shared memory on the way, at every site: each
  // acquisition writes, whatever was sampled (kv_server at -O3, where the sampled reads
  // were another structure's, inlined into the same function). No verdict.
  SectionExtent writes{true, true, "unlock"};
  writes.writes_shared = true;
  fs = with_extent(writes);
  EXPECT_EQ(find_kind(fs, "read-mostly-lock"), nullptr);
}

// s02 at -O0: the readers' lock-holding function calls the lookup (`bump` here, at
// 0x401xxx) from inside the section; the call returns to 0x402010. The lookup's
// samples carry that return address as their caller when the code has frame pointers.
TEST(MemoryRules, ReadsInAFunctionCalledInsideTheSectionCount) {
  ContendedLock lock = lock_taken_in("read_config_locked");
  lock.site_pcs = {0x402008};
  SectionExtent calls_out{true, false, "calls bump"};
  calls_out.unlocked = true;
  calls_out.program_calls = {0x402010};
  auto judge = [&](std::vector<MemoryAccess> acc, SectionExtent e) {
    MemoryRuleEnv env = env_for({});
    env.section_extent = [e](uint32_t, uint64_t, uint64_t) { return e; };
    return lock_access_findings(acc, {lock}, env);
  };
  auto callee = [](std::initializer_list<std::tuple<uint64_t, uint64_t, AccessKind, int>> spec, uint64_t caller) {
    auto acc = accesses(spec);
    for (auto& a : acc) a.callers[0] = caller;
    return acc;
  };
  const auto reads = callee({{0x401010, 0x55d1c0a06000, AccessKind::kRead, 30},
                             {0x401018, 0x55d1c0a06008, AccessKind::kRead, 30}}, 0x402010);
  auto fs = judge(reads, calls_out);
  const Finding* f = find_kind(fs, "read-mostly-lock");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence["critical_section"]["samples"], 60);
  EXPECT_EQ(f->evidence["critical_section"]["samples_in_callees"], 60);
  EXPECT_NE(f->explanation.find("functions they call while holding it"), std::string::npos) << f->explanation;
  // The fixed twins of the same shape raise nothing:
  // no frame pointers (-O2 -fomit-frame-pointer): the callee's samples have no caller.
  EXPECT_TRUE(judge(callee({{0x401010, 0x55d1c0a06000, AccessKind::kRead, 60}}, 0), calls_out).empty());
  // a call of the same function outside the section (after the unlock).
  EXPECT_TRUE(judge(callee({{0x401010, 0x55d1c0a06000, AccessKind::kRead, 60}}, 0x402030), calls_out).empty());
  // the callee also stores, once per acquisition: the section writes.
  auto writes = reads;
  for (auto& a : callee({{0x401020, 0x55d1c0a06040, AccessKind::kWrite, 20}}, 0x402010)) writes.push_back(a);
  EXPECT_EQ(find_kind(judge(writes, calls_out), "read-mostly-lock"), nullptr);
  // the callee's code stores to shared memory, although none of its stores was sampled
  // (s01's heap table at -O0: `record(word)` stores once after ~1 us of loads).
  SectionExtent callee_stores = calls_out;
  callee_stores.callee_writer = "bump";
  EXPECT_EQ(find_kind(judge(reads, callee_stores), "read-mostly-lock"), nullptr);
  // an indirect call in the section too: its work cannot be placed.
  SectionExtent indirect = calls_out;
  indirect.indirect_call = true;
  EXPECT_EQ(find_kind(judge(reads, indirect), "read-mostly-lock"), nullptr);
  // a second call into the program whose callee was never sampled.
  SectionExtent two_calls = calls_out;
  two_calls.program_calls.push_back(0x402020);
  EXPECT_EQ(find_kind(judge(reads, two_calls), "read-mostly-lock"), nullptr);
  // the walk did not reach the unlock: the callee's samples are not placed in a section.
  SectionExtent no_unlock = calls_out;
  no_unlock.unlocked = false;
  EXPECT_TRUE(judge(reads, no_unlock).empty());
}

TEST(MemoryRules, LockAroundOneIncrementIsLockForSingleWord) {
  auto acc = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kRmw, 20}, {0x402030, 0x55d1c0a07000, AccessKind::kRead, 3}});
  auto fs = lock_access_findings(acc, {lock_taken_in("read_config_locked")}, env_for({}));
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].kind, "lock-for-single-word");
  EXPECT_EQ(fs[0].remedy.kind, "atomic");
}

// Samples that all hit one word do not make a single-word section when the section's
// code does more: parking_lot's s01 bad (a digest loop in registers, the map update
// through the GOT) had 9 sampled accesses, all but one to the digest word.
TEST(MemoryRules, SectionThatLoopsOrCallsOutIsNotASingleWord) {
  auto acc = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kRmw, 20}});
  ContendedLock lock = lock_taken_in("read_config_locked");
  lock.site_pcs = {0x402008};
  auto judge = [&](SectionExtent e) {
    MemoryRuleEnv env = env_for({});
    env.section_extent = [e](uint32_t, uint64_t, uint64_t) { return e; };
    return lock_access_findings(acc, {lock}, env);
  };
  SectionExtent straight{true, true, "unlock"};
  straight.unlocked = true;
  EXPECT_NE(find_kind(judge(straight), "lock-for-single-word"), nullptr);
  SectionExtent loops = straight;
  loops.loops = 1;
  EXPECT_TRUE(judge(loops).empty());
  SectionExtent indirect = straight;
  indirect.self_contained = false;
  indirect.indirect_call = true;
  EXPECT_TRUE(judge(indirect).empty());
  // A call into the program whose callee's accesses were never sampled: its work is unseen.
  SectionExtent calls = straight;
  calls.self_contained = false;
  calls.program_calls = {0x402030};
  EXPECT_TRUE(judge(calls).empty());
  // ...but one whose callee's samples are the section's (all to the same word) is judged.
  auto via_callee = accesses({{0x401010, 0x55d1c0a06000, AccessKind::kRmw, 20}});
  for (auto& a : via_callee) a.callers[0] = 0x402030;
  MemoryRuleEnv env = env_for({});
  env.section_extent = [calls](uint32_t, uint64_t, uint64_t) { return calls; };
  EXPECT_NE(find_kind(lock_access_findings(via_callee, {lock}, env), "lock-for-single-word"), nullptr);
  // A walk that did not reach the unlock places no loop in the section: the samples decide.
  SectionExtent no_unlock = loops;
  no_unlock.unlocked = false;
  EXPECT_NE(find_kind(judge(no_unlock), "lock-for-single-word"), nullptr);
}

TEST(MemoryRules, LockGuardingRealWorkRaisesNeither) {
  auto acc = accesses({{0x402010, 0x55d1c0a06000, AccessKind::kWrite, 20},
                       {0x402018, 0x55d1c0a06040, AccessKind::kWrite, 20},
                       {0x402020, 0x55d1c0a06080, AccessKind::kRead, 20}});
  EXPECT_TRUE(lock_access_findings(acc, {lock_taken_in("read_config_locked")}, env_for({})).empty());
  // Accesses in other functions do not count for the lock.
  auto other = accesses({{0x401010, 0x55d1c0a06000, AccessKind::kRead, 50}});
  EXPECT_TRUE(lock_access_findings(other, {lock_taken_in("read_config_locked")}, env_for({})).empty());
}

}  // namespace
}  // namespace ccprof::profiler
