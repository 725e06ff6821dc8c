#include "agent/lock_slow_paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

namespace ccprof::agent {
namespace {

TEST(LockSlowPaths, MatchesEveryManglingOfTheSlowPaths) {
  // Debian's Abseil (inline namespace debian3) and upstream's (lts_2022...).
  EXPECT_NE(slow_path_of_symbol("_ZN4absl7debian35Mutex12LockSlowLoopEPNS0_15SynchWaitParamsEi"), nullptr);
  EXPECT_NE(slow_path_of_symbol("_ZN4absl12lts_202206235Mutex12LockSlowLoopEPNS0_15SynchWaitParamsEi"), nullptr);
  // parking_lot: Rust legacy and v0 manglings (from real builds).
  EXPECT_NE(slow_path_of_symbol("_ZN11parking_lot9raw_mutex8RawMutex9lock_slow17ha01d81a412ed22d1E"), nullptr);
  EXPECT_NE(slow_path_of_symbol("_RNvMs1_NtCs8P77GHa6UmO_11parking_lot9raw_mutexNtB5_8RawMutex9lock_slow"), nullptr);
  // oneTBB 2021's address wait (where tbb::mutex sleeps), as libtbb.so.12 exports it.
  EXPECT_NE(slow_path_of_symbol("_ZN3tbb6detail2r115wait_on_addressEPvRNS0_2d113delegate_baseEm"), nullptr);
  // Rust std's RwLock writers (Debian's rustc 1.63 build); its readers sleep on the lock word.
  EXPECT_NE(slow_path_of_symbol("_ZN3std3sys4unix5locks12futex_rwlock6RwLock15write_contended17h9b2e35cbe087ed69E"),
            nullptr);
  EXPECT_EQ(slow_path_of_symbol("_ZN3std3sys4unix5locks12futex_rwlock6RwLock14read_contended17h7668fdbce2db9055E"),
            nullptr);
  // Not slow paths: the fast paths, the unlock slow path, parking_lot_core's WordLock.
  EXPECT_EQ(slow_path_of_symbol("_ZN3tbb6detail2r121notify_by_address_oneEPv"), nullptr);
  EXPECT_EQ(slow_path_of_symbol("_ZN4absl7debian35Mutex4LockEv"), nullptr);
  EXPECT_EQ(slow_path_of_symbol("_ZN4absl7debian35Mutex10UnlockSlowEPNS0_15SynchWaitParamsE"), nullptr);
  EXPECT_EQ(slow_path_of_symbol("_RNvMs1_NtCs8P77GHa6UmO_11parking_lot9raw_mutexNtB5_8RawMutex11unlock_slow"), nullptr);
  EXPECT_EQ(slow_path_of_symbol("_RNvMs_NtCsjwu2gJafjUU_16parking_lot_core9word_lockNtB4_8WordLock9lock_slow"), nullptr);
}

TEST(LockSlowPaths, FindsAbslMutexSlowPathInDebiansLibrary) {
  const std::string lib = "/usr/lib/x86_64-linux-gnu/libabsl_synchronization.so.20220623.0.0";
  if (!std::filesystem::exists(lib)) GTEST_SKIP() << lib << " not installed (libabsl-dev)";
  auto found = find_lock_slow_paths(lib);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("Mutex12LockSlowLoop"), std::string::npos) << found[0];
}

TEST(LockSlowPaths, FindsTbbAddressWaitInDebiansLibrary) {
  const std::string lib = "/usr/lib/x86_64-linux-gnu/libtbb.so.12";
  if (!std::filesystem::exists(lib)) GTEST_SKIP() << lib << " not installed (libtbb-dev)";
  auto found = find_lock_slow_paths(lib);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("wait_on_address"), std::string::npos) << found[0];
}

TEST(LockSlowPaths, UnreadableOrNonElfFilesHaveNone) {
  EXPECT_TRUE(find_lock_slow_paths("/nonexistent/libfoo.so").empty());
  EXPECT_TRUE(find_lock_slow_paths("/etc/hostname").empty());
}

}  // namespace
}  // namespace ccprof::agent
