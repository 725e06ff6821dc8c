#pragma once
// What the harnesses that go through a file share: a scratch path per fuzzing process
// (parallel jobs must not share one), and quiet logging (an error per input would drown
// libFuzzer's own output). Include it once, in the harness's .cc.
#include <unistd.h>

#include <string>

#include "spdlog/spdlog.h"

namespace ccprof::fuzz {

inline const std::string& scratch_path(const char* what) {
  static const std::string p = std::string("/tmp/ccprof-fuzz-") + what + "-" + std::to_string(getpid());
  return p;
}

}  // namespace ccprof::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}
