#include "profiler/lock_libraries.h"

#include <gtest/gtest.h>

#include "profiler/symbolizer.h"
#include "profiler/unwinder.h"

namespace ccprof::profiler {
namespace {

std::string_view name_of(const LibraryFrames* l) { return l ? l->name : "(user)"; }

CodeLocation at(std::string module, std::string function, std::string file, int line = 0) {
  CodeLocation c;
  c.module = std::move(module);
  c.function = std::move(function);
  c.file = std::move(file);
  c.line = line;
  c.in_system_library = is_system_object(c.module);
  return c;
}

// Innermost level first, as the symbolizer fills them.
CodeLocation inlined(std::string module, std::vector<CodeLocation::InlineLevel> levels) {
  CodeLocation c;
  c.module = std::move(module);
  c.inline_levels = std::move(levels);
  for (const auto& lv : c.inline_levels) c.inline_chain.push_back(lv.function);
  return c;
}

// The first user frame of a stack, as Index::user_frame picks it.
const CodeLocation* site_of(const std::vector<CodeLocation>& stack) {
  for (const auto& c : stack)
    if (is_user_code(c)) return &c;
  return nullptr;
}

// Abseil's deadlock-detection SpinLock: a static word of libabsl_synchronization, reached
// from a Mutex lock function's fast path; the same SpinLock reached through the mutex's
// contended slow path, or a word in another module, is not it.
TEST(LockLibraries, AbslDeadlockDetectionLockByItsModuleAndStackShape) {
  const std::string lib = "/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623.0.0";
  const std::vector<std::string> lock = {"syscall", "AbslInternalSpinLockDelay_debian3",
                                         "absl::debian3::base_internal::SpinLock::SlowLock",
                                         "libabsl_synchronization.so.20220623.0.0+0x4717",
                                         "absl::debian3::Mutex::Lock", "count_word_sharded"};
  const std::vector<std::string> reader_unlock = {"absl::debian3::base_internal::SpinLock::SlowLock",
                                                  "absl::debian3::Mutex::ReaderUnlock", "read_config"};
  const LibraryInternalLock* l = library_internal_lock(lib, lock);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->library, "Abseil");
  EXPECT_EQ(l->remedy_kind, "disable-debug-checks");
  EXPECT_EQ(library_internal_lock(lib, reader_unlock), l);
  std::vector<std::string> slow = lock;
  slow.insert(slow.end() - 1, "absl::debian3::Mutex::LockSlowLoop");
  EXPECT_EQ(library_internal_lock(lib, slow), nullptr);
  EXPECT_EQ(library_internal_lock("/usr/lib/x86_64-linux-gnu/libabsl_base.so.20220623.0.0", lock), nullptr);
  EXPECT_EQ(library_internal_lock(lib, {"absl::debian3::Mutex::Lock", "count_word_sharded"}), nullptr);
}

// A FILE's lock: the standard streams by libc's lock symbol, any FILE by the stdio
// function (or libstdc++ ostream operator) the program called; nothing else.
TEST(LockLibraries, StdioStreamsByLockNameOrTheStdioCallTheyWereTakenIn) {
  struct Case {
    const char* lock_symbol;
    const char* stdio_call;
    const char* stream;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"_IO_stdfile_1_lock", "", "stdout"},
           {"_IO_stdfile_2_lock", "fprintf", "stderr"},
           {"", "printf", "a FILE"},
           {"", "__fprintf_chk", "a FILE"},
           {"", "_IO_fputs", "a FILE"},
           {"", "fwrite", "a FILE"},
           {"", "std::basic_ostream<char, std::char_traits<char> >& std::__ostream_insert", "a FILE"},
           {"", "std::operator<< <std::char_traits<char> >", "a FILE"},
           {"", "", ""},
           {"g_table_mutex", "", ""},
           {"", "malloc", ""},
           {"", "count_locked", ""},
       })
    EXPECT_EQ(stdio_stream(c.lock_symbol, c.stdio_call), c.stream) << c.lock_symbol << " / " << c.stdio_call;
}

TEST(LockLibraries, ModulesOfEveryLockLibrary) {
  EXPECT_EQ(name_of(library_of_module("/usr/lib/x86_64-linux-gnu/libc.so.6")), "glibc");
  EXPECT_EQ(name_of(library_of_module("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30")), "libstdc++");
  EXPECT_EQ(name_of(library_of_module("/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623.0.0")),
            "Abseil");
  EXPECT_EQ(name_of(library_of_module("/usr/lib/x86_64-linux-gnu/libtbb.so.12.8")), "oneTBB");
  EXPECT_EQ(name_of(library_of_module("/work/build/workloads/s01-lock-contention")), "(user)");
  EXPECT_TRUE(library_of_module("/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623")->lock_library);
  EXPECT_FALSE(library_of_module("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")->lock_library);
}

TEST(LockLibraries, SourcesOfLibrariesCompiledIntoTheProgram) {
  EXPECT_EQ(name_of(library_of_source("/rustc/897e37553bba8b42751c67658967889d11ecd120/library/std/src/sys/unix/"
                                      "locks/futex_mutex.rs")),
            "Rust std");
  EXPECT_TRUE(library_of_source("/usr/src/rustc-1.63.0/library/std/src/sync/mutex.rs")->lock_library);
  // std's atomics are generic: a program's own CAS loop on them is the program's.
  EXPECT_FALSE(library_of_source("/rustc/x/library/core/src/sync/atomic.rs")->lock_library);
  EXPECT_EQ(name_of(library_of_source("/usr/share/cargo/registry/parking_lot-0.12.1/src/raw_mutex.rs")),
            "parking_lot");
  EXPECT_EQ(name_of(library_of_source("/root/.cargo/registry/src/github.com-1ecc6299db9ec823/lock_api-0.4.9/src/"
                                      "mutex.rs")),
            "parking_lot");
  EXPECT_EQ(name_of(library_of_source("/usr/include/absl/synchronization/mutex.h")), "Abseil");
  EXPECT_EQ(name_of(library_of_source("/usr/include/oneapi/tbb/spin_mutex.h")), "oneTBB");
  EXPECT_EQ(name_of(library_of_source("/usr/include/c++/12/bits/std_mutex.h")), "libstdc++");
  EXPECT_EQ(name_of(library_of_source("./nptl/pthread_mutex_lock.c")), "glibc");
  EXPECT_EQ(name_of(library_of_source("/work/main/tests/workloads/s01_lock_contention.cc")), "(user)");
  EXPECT_EQ(name_of(library_of_source("/work/wt/tests/workloads/rust/src/main.rs")), "(user)");
}

TEST(LockLibraries, FunctionsDecideOnlyWithoutSource) {
  EXPECT_EQ(name_of(library_of_function("<std::sys::unix::locks::futex::Mutex>::lock_contended")), "Rust std");
  EXPECT_EQ(name_of(library_of_function("parking_lot::raw_mutex::RawMutex::lock_slow")), "parking_lot");
  EXPECT_EQ(name_of(library_of_function("absl::Mutex::LockSlow")), "Abseil");
  EXPECT_EQ(name_of(library_of_function("count_words")), "(user)");
  // A user trait impl for a std type is the user's.
  EXPECT_EQ(name_of(library_of_function("<wordcount::Table as core::fmt::Debug>::fmt")), "(user)");
  // With source, the source decides: the user's function named like a library's is the user's.
  EXPECT_FALSE(is_library_frame(at("/work/a.out", "absl::Mutex::LockSlow", "/work/src/mutex.cc", 10)));
  EXPECT_TRUE(is_library_frame(at("/work/a.out", "absl::Mutex::LockSlow", "")));
}

TEST(LockLibraries, RustStdMutexSiteIsTheUsersLine) {
  // A Rust std::sync::Mutex wait: syscall() in libc, std's lock_contended (not inlined,
  // compiled into the program), then the user's function that inlined Mutex::lock.
  std::vector<CodeLocation> stack = {
      at("/usr/lib/x86_64-linux-gnu/libc.so.6", "syscall", ""),
      at("/work/build/workloads/r01", "<std::sys::unix::locks::futex::Mutex>::lock_contended",
         "/usr/src/rustc-1.63.0/library/std/src/sys/unix/locks/futex.rs", 73),
      at("/work/build/workloads/r01", "r01::count_words", "/work/tests/workloads/rust/src/main.rs", 38),
      at("/work/build/workloads/r01", "std::sys_common::backtrace::__rust_begin_short_backtrace",
         "/usr/src/rustc-1.63.0/library/std/src/sys_common/backtrace.rs", 122),
  };
  const CodeLocation* site = site_of(stack);
  ASSERT_NE(site, nullptr);
  EXPECT_EQ(site->function, "r01::count_words");
  EXPECT_EQ(site->line, 38);
}

TEST(LockLibraries, AbslAndParkingLotSitesAreTheUsersLine) {
  std::vector<CodeLocation> absl_stack = {
      at("/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623", "absl::synchronization_internal::"
         "FutexImpl::WaitUntil", ""),
      at("/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623", "absl::Mutex::LockSlow", ""),
      at("/work/build/workloads/s01-absl", "count_word_shared", "/work/tests/workloads/s01_absl_mutex.cc", 31),
  };
  EXPECT_EQ(site_of(absl_stack)->line, 31);
  std::vector<CodeLocation> pl_stack = {
      at("/usr/lib/x86_64-linux-gnu/libc.so.6", "syscall", ""),
      at("/work/r02", "parking_lot_core::parking_lot::park", "/usr/share/cargo/registry/parking_lot_core-0.9.3/src/"
         "parking_lot.rs", 600),
      at("/work/r02", "parking_lot::raw_mutex::RawMutex::lock_slow",
         "/usr/share/cargo/registry/parking_lot-0.12.1/src/raw_mutex.rs", 262),
      at("/work/r02", "r02::count_words", "/work/tests/workloads/rust/src/main.rs", 51),
  };
  EXPECT_EQ(site_of(pl_stack)->function, "r02::count_words");
  // A stack of library frames only has no site.
  EXPECT_EQ(site_of({absl_stack[0], absl_stack[1]}), nullptr);
}

TEST(LockLibraries, TbbMutexSiteIsTheUsersLine) {
  // tbb::mutex::lock is inlined from oneTBB's header into the user's function; it sleeps
  // in libtbb's address wait (a stack of s01-tbb-mutex, Debian's libtbb without debug info).
  std::vector<CodeLocation> tbb_stack = {
      at("/usr/lib/x86_64-linux-gnu/libc.so.6", "syscall", ""),
      at("/usr/lib/x86_64-linux-gnu/libtbb.so.12.8", "tbb::detail::r1::concurrent_monitor_base<"
         "tbb::detail::r1::address_context>::commit_wait", ""),
      at("/usr/lib/x86_64-linux-gnu/libtbb.so.12.8", "tbb::detail::r1::wait_on_address", ""),
      at("/work/build/workloads/s01-tbb-mutex", "count_word_shared", "/work/tests/workloads/s01_tbb_mutex.cc", 24),
  };
  EXPECT_EQ(site_of(tbb_stack)->line, 24);
  EXPECT_EQ(site_of({tbb_stack[0], tbb_stack[1], tbb_stack[2]}), nullptr);
}

TEST(LockLibraries, LockCodeInlinedIntoTheUsersFunctionIsTheLibrarys) {
  // Rust: AtomicU32::compare_exchange inlined from core into std's Mutex::lock, inlined
  // into the user's function: lock acquisition.
  EXPECT_TRUE(is_lock_library_code(inlined(
      "/work/r01", {{"core::sync::atomic::AtomicU32::compare_exchange", "/rustc/x/library/core/src/sync/atomic.rs", 2},
                    {"std::sys::unix::locks::futex::Mutex::lock", "/rustc/x/library/std/src/sys/unix/locks/futex.rs", 3},
                    {"std::sync::mutex::Mutex<T>::lock", "/rustc/x/library/std/src/sync/mutex.rs", 4},
                    {"r01::count_words", "/work/src/main.rs", 5}})));
  // The same atomic in the user's own loop: the user's (a Treiber stack may storm).
  EXPECT_FALSE(is_lock_library_code(inlined(
      "/work/r01", {{"core::sync::atomic::AtomicPtr<T>::compare_exchange", "/rustc/x/library/core/src/sync/atomic.rs", 2},
                    {"r01::push", "/work/src/main.rs", 5}})));
  // C++: std::atomic in the user's loop vs inside oneTBB's spin_mutex.
  EXPECT_FALSE(is_lock_library_code(inlined(
      "/work/s11", {{"std::atomic<Node*>::compare_exchange_weak", "/usr/include/c++/12/bits/atomic_base.h", 2},
                    {"push", "/work/tests/workloads/s11_cas_retry_storm.cc", 30}})));
  EXPECT_TRUE(is_lock_library_code(inlined(
      "/work/t01", {{"std::atomic<bool>::exchange", "/usr/include/c++/12/bits/atomic_base.h", 2},
                    {"tbb::spin_mutex::lock", "/usr/include/oneapi/tbb/spin_mutex.h", 70},
                    {"count_words", "/work/t01.cc", 30}})));
  // Code in a lock library's module (absl::Mutex::Lock's CAS in libabsl_synchronization).
  EXPECT_TRUE(is_lock_library_code(at("/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623",
                                      "absl::Mutex::Lock", "")));
  EXPECT_FALSE(is_lock_library_code(at("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "std::locale::locale", "")));
}

}  // namespace
}  // namespace ccprof::profiler
