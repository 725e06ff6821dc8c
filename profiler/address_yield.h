#pragma once
// AddressYield: how many memory samples yielded a data address, per module of the
// sampled instruction, why the others did not, and which decoder step recovered
// an address the plain previous-instruction rule would have dropped
// (findings.json "tables.memory": "recovered", "by_module").
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace ccprof::profiler {

class Symbolizer;

class AddressYield {
 public:
  struct Module {
    uint64_t samples = 0, with_address = 0;
    uint64_t eh_frame_bounds = 0;  // samples decoded in functions bounded by .eh_frame (no symbol)
    std::map<std::string, uint64_t> no_address;  // decode failure name -> samples
    std::map<std::string, uint64_t> recovered;   // decode recovery name -> samples
  };
  // The entry of the module that maps `ip` ("[unknown]" when none does).
  Module& module(Symbolizer* sym, uint64_t ip);
  // [{module, samples, with_address, address_yield, samples_touching_memory,
  //   memory_address_yield, eh_frame_bounds, no_address, recovered}],
  // most samples first.
  nlohmann::json modules_json() const;

  // Samples whose previous instruction may have touched memory: all but those that
  // certainly did not (no memory operand, a branch, a function's first instruction).
  // The denominator of "memory_address_yield".
  static uint64_t touching_memory(uint64_t samples, const std::map<std::string, uint64_t>& no_address);

  std::map<std::string, uint64_t> recovered;  // over all modules
  // Accesses made inside a standard-library function compiled into the program (an
  // out-of-line std::atomic member at -O0) and sited at its caller in the program's
  // own code, found through the frame-pointer chain in the sample's stack windows.
  uint64_t sited_at_caller = 0;
 private:
  std::map<std::string, Module> modules_;
};

}  // namespace ccprof::profiler
