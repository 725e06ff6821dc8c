#include "profiler/lock_libraries.h"

#include <algorithm>
#include <map>

#include "profiler/symbolizer.h"

namespace ccprof::profiler {
namespace {

bool starts_with_any(std::string_view s, const std::vector<std::string_view>& prefixes) {
  for (std::string_view p : prefixes)
    if (s.substr(0, p.size()) == p) return true;
  return false;
}

bool contains_any(std::string_view s, const std::vector<std::string_view>& parts) {
  for (std::string_view p : parts)
    if (s.find(p) != std::string_view::npos) return true;
  return false;
}

}  // namespace

const std::vector<LibraryFrames>& library_frames() {
  // Specific entries before generic ones: the first match names the library, and a
  // lock library's headers (/usr/include/absl/synchronization/) sit under the generic
  // system headers (/usr/include/). Only lock libraries' own code counts as lock
  // acquisition: std::atomic's headers and Rust's core::sync::atomic are generic, so a
  // program's own compare-and-swap loop stays the program's.
  static const std::vector<LibraryFrames> kLibraries = {
      {.name = "glibc",
       .lock_library = true,
       .module_prefixes = {"libc.so", "libc-", "libpthread"},
       .source_prefixes = {"./nptl", "../nptl/", "../sysdeps/"},
       .function_prefixes = {"pthread_", "__pthread_", "___pthread_", "__lll_", "lll_", "__futex", "futex_",
                             "__GI_", "__new_sem_", "sem_"}},
      {.name = "Abseil",
       .lock_library = true,
       .module_prefixes = {"libabsl_"},
       .source_prefixes = {"/usr/include/absl/synchronization/", "/usr/include/absl/base/internal/spinlock"},
       .function_prefixes = {"absl::"}},
      // std's locks (sync::Mutex/RwLock/Condvar and their futex implementation) apart
      // from the rest of std, whose atomics are the program's.
      {.name = "Rust std",
       .lock_library = true,
       .source_parts = {"/library/std/src/sync/", "/library/std/src/sys/unix/locks/",
                        "/library/std/src/sys/unix/futex.rs", "/library/std/src/sys_common/mutex",
                        "/library/std/src/sys_common/rwlock", "/library/std/src/sys_common/condvar"},
       .function_prefixes = {"std::sync::", "<std::sync::", "std::sys::unix::locks::", "<std::sys::unix::locks::",
                             "std::sys::unix::futex::", "<std::sys::unix::futex::", "std::sys_common::mutex::",
                             "<std::sys_common::mutex::", "std::sys_common::rwlock::", "<std::sys_common::rwlock::"}},
      // parking_lot and its lock_api/parking_lot_core, from a cargo registry directory
      // (crates.io's or Debian's /usr/share/cargo/registry): NAME-VERSION/src/...
      {.name = "parking_lot",
       .lock_library = true,
       .source_parts = {"/parking_lot-", "/parking_lot_core-", "/lock_api-"},
       .function_prefixes = {"parking_lot::", "<parking_lot::", "parking_lot_core::", "<parking_lot_core::",
                             "lock_api::", "<lock_api::"}},
      {.name = "oneTBB",
       .lock_library = true,
       .module_prefixes = {"libtbb"},
       .source_prefixes = {"/usr/include/oneapi/tbb/", "/usr/include/tbb/"},
       .function_prefixes = {"tbb::", "<tbb::", "oneapi::tbb::"}},
      {.name = "libstdc++",
       .module_prefixes = {"libstdc++", "libc++"},
       .source_parts = {"/c++/"},
       .function_prefixes = {"std::", "__gnu_cxx::"}},
      {.name = "Rust std",
       .source_prefixes = {"/rustc/"},
       .source_parts = {"/library/std/src/", "/library/core/src/", "/library/alloc/src/"},
       .function_prefixes = {"core::", "<core::", "alloc::", "<alloc::", "<std::"}},
      {.name = "C runtime",
       .module_prefixes = {"ld-linux", "libgcc_s", "libm.so", "libdl.so", "librt.so"},
       .source_prefixes = {"/usr/include/", "/usr/lib/gcc/"}},
      {.name = "CPython", .module_prefixes = {"libpython"}},
  };
  return kLibraries;
}

const LibraryFrames* library_of_module(std::string_view path) {
  const std::string_view b = path.substr(path.rfind('/') + 1);  // npos + 1 == 0: no slash
  for (const auto& l : library_frames())
    if (starts_with_any(b, l.module_prefixes)) return &l;
  return nullptr;
}

const LibraryFrames* library_of_source(std::string_view file) {
  for (const auto& l : library_frames())
    if (starts_with_any(file, l.source_prefixes) || contains_any(file, l.source_parts)) return &l;
  return nullptr;
}

const LibraryFrames* library_of_function(std::string_view function) {
  for (const auto& l : library_frames())
    if (starts_with_any(function, l.function_prefixes)) return &l;
  return nullptr;
}

bool is_library_frame(const CodeLocation& loc) {
  if (library_of_module(loc.module)) return true;
  if (!loc.file.empty()) return library_of_source(loc.file) != nullptr;
  return library_of_function(loc.function) != nullptr;
}

bool is_user_code(const CodeLocation& loc) { return !loc.module.empty() && !is_library_frame(loc); }

bool is_lock_library_code(const CodeLocation& loc) {
  if (const LibraryFrames* m = library_of_module(loc.module)) return m->lock_library;
  // Innermost level first: a lock library's level before the first user level means
  // the instruction is the library's lock code inlined into the user's function.
  for (const auto& lv : loc.inline_levels) {
    const LibraryFrames* l = lv.file.empty() ? library_of_function(lv.function) : library_of_source(lv.file);
    if (!l) return false;
    if (l->lock_library) return true;
  }
  if (loc.inline_levels.empty() && loc.file.empty())
    if (const LibraryFrames* l = library_of_function(loc.function)) return l->lock_library;
  return false;
}

const std::vector<LibraryInternalLock>& library_internal_locks() {
  static const std::vector<LibraryInternalLock> kLocks = {
      // Abseil's deadlock detector (absl/synchronization/mutex.cc): in a build of Abseil
      // without NDEBUG, Debian's libabsl among them, the detector is on by default and
      // every Mutex::Lock, Unlock, ReaderLock, ... looks the mutex up in one process-wide
      // lock-order graph under a static base_internal::SpinLock (deadlock_graph_mu), in
      // the mutex's fast path, before any contention on the mutex itself. Measured on
      // s01-absl-mutex's sharded twin (64 absl::Mutex, 4 threads, 2 CPUs): 9.5M words/s
      // with the detector, 40M without; 85% of the threads' samples in Abseil.
      {.library = "Abseil",
       .module_prefix = "libabsl_synchronization",
       .inner = "base_internal::SpinLock::SlowLock",
       .entries = {"::Mutex::Lock", "::Mutex::Unlock", "::Mutex::ReaderLock", "::Mutex::ReaderUnlock",
                   "::Mutex::WriterLock", "::Mutex::WriterUnlock", "::Mutex::TryLock", "::Mutex::ReaderTryLock",
                   "::Mutex::LockWhen", "::Mutex::ReaderLockWhen", "::Mutex::Await", "::Mutex::ForgetDeadlockInfo",
                   "::MutexLock::", "::ReaderMutexLock::", "::WriterMutexLock::"},
       .not_via = {"::Mutex::LockSlow", "::Mutex::UnlockSlow", "::Mutex::Block", "::CondVar::"},
       .cpu_modules = {"libabsl_synchronization", "libabsl_graphcycles_internal", "libabsl_base",
                       "libabsl_spinlock_wait", "libabsl_stacktrace", "libabsl_malloc_internal"},
       .what = "Abseil's deadlock-detection lock",
       .why = "Abseil was built without NDEBUG, so its deadlock detector is on: every absl::Mutex Lock and Unlock "
              "records the mutex in one process-wide lock-order graph, under one static SpinLock "
              "(deadlock_graph_mu), even when the mutex itself is free. Whatever the program shards, all its "
              "threads take this one lock twice per critical section.",
       .remedy_kind = "disable-debug-checks",
       .remedy = "Turn Abseil's deadlock detection off in production: call "
                 "absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore) once at startup, before the "
                 "threads start, or link an Abseil built with -DNDEBUG (a release build, where it is off). Keep it "
                 "on in a test build, where it finds lock-order inversions.",
       .before = "int main(int argc, char** argv) {\n"
                 "  start_workers();  // every absl::Mutex takes the detector's global lock\n"
                 "}",
       .after = "#include \"absl/synchronization/mutex.h\"\n\n"
                "int main(int argc, char** argv) {\n"
                "#ifdef NDEBUG\n"
                "  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);\n"
                "#endif\n"
                "  start_workers();\n"
                "}"},
  };
  return kLocks;
}

const LibraryInternalLock* library_internal_lock(std::string_view module, const std::vector<std::string>& functions) {
  const std::string_view b = module.substr(module.rfind('/') + 1);
  for (const auto& l : library_internal_locks()) {
    if (b.substr(0, l.module_prefix.size()) != l.module_prefix) continue;
    bool inner = false, entry = false, via = false;
    for (const std::string& fn : functions) {
      inner = inner || fn.find(l.inner) != std::string::npos;
      entry = entry || contains_any(fn, l.entries);
      via = via || contains_any(fn, l.not_via);
    }
    if (inner && entry && !via) return &l;
  }
  return nullptr;
}

std::string stdio_stream(const std::string& lock_name, const std::string& via) {
  static const std::map<std::string, std::string> kStandard = {
      {"_IO_stdfile_0_lock", "stdin"}, {"_IO_stdfile_1_lock", "stdout"}, {"_IO_stdfile_2_lock", "stderr"}};
  if (auto it = kStandard.find(lock_name); it != kStandard.end()) return it->second;
  if (via.empty()) return "";
  std::string fn = via.substr(std::min(via.find_first_not_of('_'), via.size()));  // __printf_chk, _IO_puts
  if (fn.rfind("IO_", 0) == 0) fn = fn.substr(3);
  static const char* kStdio[] = {"printf", "fprintf", "vprintf", "vfprintf", "puts", "fputs", "fputc", "putc",
                                 "putchar", "fwrite", "fflush", "fgets", "fgetc", "getc", "getchar", "fread",
                                 "getline", "getdelim", "scanf", "fscanf", "perror"};
  for (const char* name : kStdio)
    if (fn.rfind(name, 0) == 0) return "a FILE";
  static const char* kOstream[] = {"basic_ostream", "__ostream_insert"};
  for (const char* part : kOstream)
    if (via.find(part) != std::string::npos) return "a FILE";
  static const char* kOstreamFunctions[] = {"std::operator<<", "std::endl", "std::flush"};
  for (const char* name : kOstreamFunctions)
    if (via.rfind(name, 0) == 0) return "a FILE";
  return "";
}

}  // namespace ccprof::profiler
