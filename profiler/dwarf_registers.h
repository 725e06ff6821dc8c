#pragma once
#include <Zydis/Zydis.h>

namespace ccprof::profiler {

// The UserRegs index of a 64-bit register, which is its x86-64 DWARF register number
// (model/recording.h keeps that order); -1 for others.
int dwarf_index(ZydisRegister wide);

}  // namespace ccprof::profiler
