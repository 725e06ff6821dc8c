#pragma once
// A fixture whose Symbolizer reads this test process: tests that decode, walk or name
// their own code and data through DWARF.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>

#include "agent/proc.h"
#include "profiler/symbolizer.h"

namespace ccprof::profiler {

class SelfSymbolizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proc_.pid = static_cast<uint32_t>(getpid());
    proc_.maps = *agent::read_maps(proc_.pid);
    sym_ = std::make_unique<Symbolizer>(proc_);
  }
  ProcessInfo proc_;
  std::unique_ptr<Symbolizer> sym_;
};

}  // namespace ccprof::profiler
