#include "model/syscalls.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
// Generated from model/syscalls.json by cmake/embed_text.cmake: syscalls_json_text().
#include "syscalls_embedded.h"

namespace ccprof::model {
namespace {

struct SyscallInfo {
  std::string name;
  SyscallClass cls;
};

SyscallClass class_of(std::string_view name) {
  for (int c = 0; c < kNumSyscallClasses; ++c)
    if (name == syscall_class_name(static_cast<SyscallClass>(c))) return static_cast<SyscallClass>(c);
  std::fprintf(stderr, "model/syscalls.json (embedded): unknown class %.*s\n", static_cast<int>(name.size()),
               name.data());
  std::abort();
}

// model/syscalls.json, read once. It is part of the build: a malformed file is a
// programming error that the unit tests meet first.
const std::unordered_map<int, SyscallInfo>& syscall_table() {
  static const std::unordered_map<int, SyscallInfo> table = [] {
    std::unordered_map<int, SyscallInfo> out;
    const std::string_view text = syscalls_json_text();
    const auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) std::abort();
    for (const auto& [cls, calls] : doc.items()) {
      if (cls.starts_with("_")) continue;  // _comment
      const SyscallClass c = class_of(cls);
      for (const auto& [name, nr] : calls.items())
        if (nr.is_number_integer()) out[nr.get<int>()] = {name, c};
    }
    return out;
  }();
  return table;
}

}  // namespace

SyscallClass classify_syscall(int nr) {
  const auto& t = syscall_table();
  auto it = t.find(nr);
  return it == t.end() ? SyscallClass::kOther : it->second.cls;
}

std::string syscall_name(int nr) {
  const auto& t = syscall_table();
  auto it = t.find(nr);
  return it == t.end() ? absl::StrCat("syscall_", nr) : it->second.name;
}

const char* syscall_class_name(SyscallClass c) {
  switch (c) {
    case SyscallClass::kIo: return "io";
    case SyscallClass::kSleep: return "sleep";
    case SyscallClass::kPoll: return "poll";
    case SyscallClass::kFutex: return "futex";
    case SyscallClass::kSpawn: return "spawn";
    case SyscallClass::kThread: return "thread";
    case SyscallClass::kMemory: return "memory";
    case SyscallClass::kMemoryGrow: return "memory-grow";
    case SyscallClass::kOther: break;
  }
  return "other";
}

bool is_blocking_syscall(int nr) {
  SyscallClass c = classify_syscall(nr);
  return c == SyscallClass::kIo || c == SyscallClass::kSleep || c == SyscallClass::kPoll;
}

}  // namespace ccprof::model
