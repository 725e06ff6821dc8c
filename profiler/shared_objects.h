#pragma once
// Memory that several processes of one program share (MAP_SHARED: a shared anonymous
// mapping inherited across fork, a /dev/shm or memfd file, SysV shm), named once:
// each process sees the same object at its own address, so a process-shared mutex or
// a cache line of a shared segment would otherwise be one lock / one line per process.
// Every address inside such an object maps to the address of the same byte in one
// canonical process (the lowest pid mapping it), and the lock table and the cache-line
// table key by that.
//
// Only processes running the same executable at the same load address are merged
// (forked workers, pre-fork servers): their code shares addresses too, so an access's
// instruction and a lock's call sites symbolize in the canonical process. Processes of
// different programs (or one program exec'd twice under ASLR) keep their own views.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "model/recording.h"

namespace ccprof::profiler {

class SharedObjects {
 public:
  explicit SharedObjects(const model::Recording& rec);

  struct Address {
    uint32_t pid = 0;
    uint64_t addr = 0;
  };
  // The same byte in the canonical process; {pid, addr} itself when it is not in an
  // object shared with another process of the same program.
  Address canonical(uint32_t pid, uint64_t addr) const;
  // The processes that map the object holding (pid, addr) (just pid when not shared).
  std::set<uint32_t> processes(uint32_t pid, uint64_t addr) const;
  bool empty() const { return objects_.empty(); }

 private:
  // (exe, its load address, path, inode): one shared object as one program image sees it.
  using Key = std::tuple<std::string, uint64_t, std::string, uint64_t>;
  struct View {
    uint32_t pid;
    uint64_t start, end, offset;
  };
  const View* view_of(uint32_t pid, uint64_t addr, const Key** key) const;
  std::map<Key, std::vector<View>> objects_;  // only objects mapped by >= 2 processes
  std::map<uint32_t, std::vector<std::pair<View, const Key*>>> by_pid_;
};

}  // namespace ccprof::profiler
