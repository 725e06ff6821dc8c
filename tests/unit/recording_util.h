#pragma once
// Saves a recording to a temporary file and loads it back (the model tests' seam).
#include <unistd.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "model/recording.h"

namespace ccprof::model {

inline std::string temp_recording_path(const std::string& name) {
  return std::string(::testing::TempDir()) + "/" + name + "." + std::to_string(getpid()) + ".ccprof";
}

inline absl::StatusOr<Recording> round_trip(const Recording& rec, const std::string& name) {
  const std::string path = temp_recording_path(name);
  if (auto s = save_recording(rec, path); !s.ok()) return s;
  auto back = load_recording(path);
  std::remove(path.c_str());
  return back;
}

}  // namespace ccprof::model
