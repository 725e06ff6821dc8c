#include "profiler/demangle.h"

#include <gtest/gtest.h>

namespace ccprof::profiler {
namespace {

TEST(Demangle, CxxItaniumNames) {
  EXPECT_EQ(demangle("_ZNSt5mutex4lockEv"), "std::mutex::lock()");
  EXPECT_EQ(demangle("_ZN4absl7debian35Mutex12LockSlowLoopEPNS0_15SynchWaitParamsEi"),
            "absl::debian3::Mutex::LockSlowLoop(absl::debian3::SynchWaitParams*, int)");
  EXPECT_EQ(demangle("_Z17count_word_sharedRKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"),
            "count_word_shared(std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const&)");
}

TEST(Demangle, RustLegacyNamesLoseTheirHash) {
  EXPECT_EQ(demangle("_ZN3std4sync5mutex14Mutex$LT$T$GT$4lock17h0123456789abcdefE"), "std::sync::mutex::Mutex<T>::lock");
  EXPECT_EQ(demangle("_ZN4core3fmt9Formatter9write_fmt17h1e0c9d1f6f3b2a1cE"), "core::fmt::Formatter::write_fmt");
}

TEST(Demangle, RustV0Names) {
  // The symbol the issue reports undemangled: std's futex mutex slow path.
  EXPECT_EQ(demangle("_RNvMNtNtNtCs1234_3std3sys4unix5futexNtB2_5Mutex14lock_contended"),
            "<std::sys::unix::futex::Mutex>::lock_contended");
  EXPECT_EQ(demangle("_RNvCs15kBYyAo9fc_7mycrate4main"), "mycrate::main");
}

TEST(Demangle, PlainNamesStayExact) {
  // C functions named like Itanium type codes (w = wchar_t, i = int) and other plain names.
  EXPECT_EQ(demangle("w"), "w");
  EXPECT_EQ(demangle("i"), "i");
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("pthread_mutex_lock"), "pthread_mutex_lock");
  // Not valid manglings: returned unchanged, never half-decoded.
  EXPECT_EQ(demangle("_Z"), "_Z");
  EXPECT_EQ(demangle("_ZZZ"), "_ZZZ");
  EXPECT_EQ(demangle("_Rubbish"), "_Rubbish");
  EXPECT_EQ(demangle(""), "");
}

}  // namespace
}  // namespace ccprof::profiler
