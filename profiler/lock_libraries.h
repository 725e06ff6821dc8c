#pragma once
// The libraries whose frames are not the user's: the lock libraries ccprof understands
// (glibc's pthread, libstdc++, Abseil, Rust's std, parking_lot, oneTBB) and the other
// runtimes a stack passes through (ld.so, libgcc, libpython). Declared as data, in one
// place: a frame belongs to a library when its module, its source file or (for a frame
// without source) its function says so, and the user's call site is the first frame
// that belongs to none.
//
// Rust's std and crates are compiled into the user's binary, so for them the module
// says nothing: the source path (std's `library/std/src/...`, a crate's registry
// directory `parking_lot-0.12.1/src/...`) and the function name do.
#include <string>
#include <string_view>
#include <vector>

namespace ccprof::profiler {

struct CodeLocation;

struct LibraryFrames {
  std::string_view name;                           // "glibc", "Abseil", "Rust std", ...
  bool lock_library = false;                       // it implements locks (its CAS loops are lock acquisition)
  std::vector<std::string_view> module_prefixes;   // basename of a shared object starts with one
  std::vector<std::string_view> source_prefixes;   // a source path starts with one
  std::vector<std::string_view> source_parts;      // a source path contains one
  std::vector<std::string_view> function_prefixes; // a demangled function name starts with one
};

// Every library, in the order they are tried.
const std::vector<LibraryFrames>& library_frames();

// The library a shared object, a source file or a function name belongs to; nullptr
// for the user's own.
const LibraryFrames* library_of_module(std::string_view path);
const LibraryFrames* library_of_source(std::string_view file);
const LibraryFrames* library_of_function(std::string_view function);

// Whether a symbolized frame is library code: its module is a library's, or its source
// file is (the location's file is the innermost non-library level of the inline chain,
// so a user function that inlined std::mutex::lock is the user's), or it has no source
// and its function is a library's.
bool is_library_frame(const CodeLocation& loc);

// Whether a frame is the user's: in a known module and no library's (the user's call
// site is the first such frame of a stack).
bool is_user_code(const CodeLocation& loc);

// Whether the instruction at `loc` is a lock library's own code (a library module, or
// the innermost inlined level's source or function), e.g. the compare-and-swap of
// absl::Mutex::Lock or of an inlined Rust std Mutex::lock: lock acquisition, not a
// program's lock-free loop.
bool is_lock_library_code(const CodeLocation& loc);

// A lock library's own lock: a futex word in the library's static data that its
// user-facing lock functions take on the program's behalf, so threads serialise on it
// whichever of the program's locks they take. Its waits are not the program's lock's,
// and the remedy is the library's configuration, not the program's locking.
struct LibraryInternalLock {
  std::string_view library;                // "Abseil"
  std::string_view module_prefix;          // the word is in this module's static data (basename prefix)
  std::string_view inner;                  // the library's internal lock function in the waits' stacks
  std::vector<std::string_view> entries;   // ... called from one of these (user-facing) functions
  std::vector<std::string_view> not_via;   // ... and not through these (the lock's own slow path)
  std::vector<std::string_view> cpu_modules;  // samples in these modules count as its spinning
  std::string_view what;                   // the lock, in words
  std::string_view why;                    // why the library takes it (an explanation's sentence)
  std::string_view remedy_kind, remedy, before, after;
};

// Every known internal lock, in one declarative list.
const std::vector<LibraryInternalLock>& library_internal_locks();

// The internal lock whose module is `module` (a path) and whose stack shape
// `functions` (one stack's demangled function names, any order) shows; nullptr if none.
const LibraryInternalLock* library_internal_lock(std::string_view module, const std::vector<std::string>& functions);

// The stream whose FILE lock glibc's stdio takes on the program's behalf: "stdin",
// "stdout" or "stderr" for libc's static _IO_stdfile_N_lock (`lock_name`), "a FILE" for
// a lock taken inside a stdio function or a libstdc++ ostream operator (`via`, the
// library function the program called: printf, _IO_fputs, __fprintf_chk,
// std::operator<<, ...; std::cout, synced with stdio, goes through them); "" when the
// lock is not stdio's.
std::string stdio_stream(const std::string& lock_name, const std::string& via);

}  // namespace ccprof::profiler
