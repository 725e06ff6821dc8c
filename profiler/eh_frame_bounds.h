#pragma once
// Function bounds from .eh_frame, for code without a symbol table.
//
// A stripped binary (every distro package, most containers) has no .symtab, so the
// decoder finds no function start to decode from. Its .eh_frame is always there
// (the C++ runtime unwinds through it): every FDE covers one function (or one
// cold/hot part of one), [initial_location, initial_location + address_range).
#include <cstdint>
#include <vector>

typedef struct Elf Elf;

namespace ccprof::profiler {

struct FunctionBounds {
  uint64_t start = 0, end = 0;  // link-time virtual addresses (add the module's bias)
};

// Every FDE's range in the ELF's .eh_frame, sorted by start; empty when there is no
// .eh_frame or it cannot be parsed (parsing stops at the first malformed entry and
// keeps what came before).
std::vector<FunctionBounds> read_eh_frame_functions(Elf* elf);

// The range that contains `addr` (link-time), or nullptr.
const FunctionBounds* find_function_bounds(const std::vector<FunctionBounds>& sorted, uint64_t addr);

}  // namespace ccprof::profiler
