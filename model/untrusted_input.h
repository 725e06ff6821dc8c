#pragma once
// Readers for input ccprof does not control: recordings other people send, and the
// files a recording's memory maps name (which `ccprof report` opens to symbolize).
// ccprof may run as root, so these never block (a FIFO, a tty), never open a device
// (opening some has side effects, e.g. /dev/watchdog arms the watchdog), and bound
// how much they read and how deep they recurse.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace ccprof::model {

// Opens `path` read-only if, and only if, it is a regular file (after following
// symlinks). The check is made before opening (so no device or FIFO is ever opened)
// and again on the open descriptor (so a swap in between is caught); files of kernel
// interfaces (/proc, /sys, debugfs, tracefs, ...: /proc/kcore is an ELF image of kernel
// memory) are refused by the descriptor's filesystem type. O_NONBLOCK and
// O_NOCTTY make the open itself unable to block or take a terminal. The caller owns
// the returned descriptor. Errors read "cannot open <what> <path>: <reason>" or
// "will not open <what> <path>: it is a FIFO" (`what` may be empty).
absl::StatusOr<int> open_regular_file(const std::string& path, const std::string& what = "");

// Reads a whole regular file of at most `max_bytes` bytes.
absl::StatusOr<std::string> read_regular_file(const std::string& path, uint64_t max_bytes,
                                              const std::string& what = "");

// Limits on a CBOR document from an untrusted file. nlohmann's parser recurses once per
// nesting level (a 131 KB file of nested arrays overflowed the stack) and makes one
// JSON value per item, so both are bounded before any value is built.
struct CborLimits {
  // The recording's deepest legitimate nesting is 5 (sections -> sched -> a table ->
  // a row -> a field); 64 leaves room for new sections and is far below what
  // overflows an 8 MiB stack (tens of thousands of levels, fewer under ASan).
  size_t max_depth = 64;
  // Items (every scalar, string, binary, array and map). A 10 s profile of a busy
  // target (s01, s03) has well under 2M; each item costs ~50 bytes of memory once parsed.
  uint64_t max_items = 64'000'000;
};

// Parses CBOR with the limits checked first (and floats outside [0, 2^31), NaN and
// infinities refused: converting them to the integer fields they may sit in is UB), in a pass that builds nothing; errors say
// which limit or what is malformed ("nested deeper than 64 levels at byte 1234").
absl::StatusOr<nlohmann::json> parse_cbor_bounded(const uint8_t* data, size_t len, const CborLimits& limits = {});

}  // namespace ccprof::model
