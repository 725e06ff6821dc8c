#include "agent/lock_slow_paths.h"

#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>

#include "model/untrusted_input.h"

namespace ccprof::agent {

const std::vector<LockSlowPath>& lock_slow_paths() {
  // Parts of the mangled names, so that any inline namespace (absl::lts_2022..,
  // Debian's absl::debian3), Rust crate hash and either Rust mangling (legacy _ZN...,
  // v0 _RNv...) match.
  static const std::vector<LockSlowPath> kPaths = {
      // absl::Mutex::LockSlowLoop(SynchWaitParams*, int): where Lock(), ReaderLock()
      // and the *When() variants queue the thread and block on its per-thread semaphore
      // (Abseil 2022-06 and later; `this`, the mutex, is the first argument). Spinning
      // happens before it, in Lock().
      {"Abseil", {"_ZN4absl", "5Mutex12LockSlowLoopE"}},
      // parking_lot's RawMutex::lock_slow(&self, timeout) and RawRwLock's slow paths:
      // waiters park on a per-thread futex word in parking_lot_core.
      {"parking_lot", {"11parking_lot9raw_mutex", "8RawMutex9lock_slow"}},
      {"parking_lot", {"11parking_lot10raw_rwlock", "9RawRwLock19lock_exclusive_slow"}},
      {"parking_lot", {"11parking_lot10raw_rwlock", "9RawRwLock16lock_shared_slow"}},
      // Rust std's futex RwLock::write_contended(&self): a writer sleeps on the lock's
      // second word (writer_notify, +4) while readers drain; charged to the RwLock (its
      // state word, the first argument), so the lock is one row, not two. Its readers
      // sleep on the state word itself and need no probe.
      {"Rust std", {"3std", "6RwLock15write_contended"}},
      // oneTBB's tbb::detail::r1::wait_on_address(void* address, delegate_base&, uintptr_t)
      // in libtbb: where tbb::mutex and tbb::rw_mutex (header-only; `address` is the
      // mutex) sleep after spinning, on a per-thread semaphore of TBB's address-wait
      // table. Only waitable_atomic::wait and adaptive_wait_on_address call it.
      {"oneTBB", {"_ZN3tbb6detail2r115wait_on_addressEPv"}},
  };
  return kPaths;
}

const LockSlowPath* slow_path_of_symbol(std::string_view name) {
  for (const auto& p : lock_slow_paths()) {
    bool all = !p.parts.empty();
    for (std::string_view part : p.parts) all = all && name.find(part) != std::string_view::npos;
    if (all) return &p;
  }
  return nullptr;
}

std::vector<std::string> find_lock_slow_paths(const std::string& path) {
  std::vector<std::string> out;
  // The path comes from the target's maps: open it as hostile input (never blocks).
  auto fd = model::open_regular_file(path);
  if (!fd.ok()) return out;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(*fd, ELF_C_READ_MMAP, nullptr);
  for (Elf_Scn* scn = elf ? elf_nextscn(elf, nullptr) : nullptr; scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || !sh.sh_entsize) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    const size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
          sym.st_shndx == SHN_UNDEF || !sym.st_value)
        continue;
      const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (!name || !slow_path_of_symbol(name)) continue;
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
  }
  if (elf) elf_end(elf);
  close(*fd);
  return out;
}

}  // namespace ccprof::agent
