#pragma once
// The GNU build ID of an ELF file: what identifies a module across hosts. The agent
// records it per mapped file while the target lives; `ccprof report` of that recording
// on another host (or after the file changed) uses it to find the very same file and
// to refuse one that only has the same path.
#include <string>

namespace ccprof::model {

// Lower-case hex of the NT_GNU_BUILD_ID note of the 64-bit little-endian ELF open as
// `fd` (read with pread, bounded: the file is the target's, so untrusted), or "" when it
// is not such an ELF or has no build ID.
std::string elf_build_id_hex(int fd);

}  // namespace ccprof::model
