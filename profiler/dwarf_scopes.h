#pragma once
// Finding the DWARF scope of an address where elfutils' dwarf_getscopes cannot.
#include <elfutils/libdw.h>

namespace ccprof::profiler {

// The innermost subprogram, inlined subroutine or lexical block DIE of `parent` that
// covers `pc` (unbiased), searching through namespaces and types (Rust nests functions
// in them). The fallback for dwarf_getscopes, which in elfutils 0.188 stops at the first
// DIE of a Rust CU it cannot read an address from ("no address value") and finds nothing;
// dwarf_getscopes_die on the result gives its concrete parents.
bool find_innermost_scope(Dwarf_Die* parent, Dwarf_Addr pc, Dwarf_Die* out, int depth = 0);

}  // namespace ccprof::profiler
