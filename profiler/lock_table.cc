#include "profiler/lock_table.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "profiler/data_naming.h"
#include "profiler/index.h"
#include "profiler/lock_code.h"
#include "profiler/lock_libraries.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

enum class StackKind { kMutex, kCondvar, kRwlock, kSemaphore, kOther };

// What kind of futex user a frame is, from the libc/libstdc++ function (or the functions
// inlined there) it shows.
StackKind classify_frame(const Frame& f) {
  const auto kind_of = [](const std::string& fn) {
    if (absl::StrContains(fn, "pthread_cond_") || absl::StrContains(fn, "condition_variable") ||
        absl::StrContains(fn, "__condvar") || absl::StrContains(fn, "Condvar::wait") ||
        absl::StrContains(fn, "CondVar::Wait"))
      return StackKind::kCondvar;
    if (absl::StrContains(fn, "pthread_rwlock") || absl::StrContains(fn, "shared_mutex") ||
        absl::StrContains(fn, "rwlock") || absl::StrContains(fn, "RwLock"))
      return StackKind::kRwlock;
    if (absl::StrContains(fn, "sem_wait") || absl::StrContains(fn, "sem_timedwait") ||
        absl::StrContains(fn, "sem_clockwait"))
      return StackKind::kSemaphore;
    if (absl::StrContains(fn, "pthread_mutex_") || absl::StrContains(fn, "lll_lock") ||
        absl::StrContains(fn, "std::mutex") || absl::StrContains(fn, "mutex_lock") ||
        absl::StrContains(fn, "lll_timedlock") ||
        absl::StrContains(fn, "Mutex::lock") || absl::StrContains(fn, "lock_contended") ||
        (absl::StartsWith(fn, "absl::") && absl::StrContains(fn, "::Mutex::Lock")) ||
        (absl::StartsWith(fn, "absl::") && absl::StrContains(fn, "::SpinLock::SlowLock")) ||
        absl::StrContains(fn, "parking_lot::raw_mutex::RawMutex>::lock") ||
        absl::StrContains(fn, "parking_lot::raw_mutex::RawMutex::lock") ||
        // oneTBB: tbb::mutex::lock (inlined) and the address wait it sleeps in, which
        // tbb::rw_mutex shares (its waits are typed mutex too, like absl's reader locks).
        absl::StrContains(fn, "tbb::detail::d1::mutex::lock") ||
        absl::StrContains(fn, "tbb::detail::r1::wait_on_address"))
      return StackKind::kMutex;
    return StackKind::kOther;
  };
  if (f.loc.inline_chain.empty()) return kind_of(f.loc.function);
  for (const std::string& fn : f.loc.inline_chain)
    if (StackKind k = kind_of(fn); k != StackKind::kOther) return k;
  return StackKind::kOther;
}

// What kind of futex user a stack shows: its first frame that is one.
StackKind classify_stack(const std::vector<Frame>& frames) {
  for (const Frame& f : frames)
    if (StackKind k = classify_frame(f); k != StackKind::kOther) return k;
  return StackKind::kOther;
}

// Whether a wait's stack acquires a reader-writer lock in shared (read) mode.
// parking_lot's upgradable reads exclude each other, so they are not shared here.
bool shared_acquisition(const std::vector<Frame>& frames) {
  const auto shared = [](const std::string& fn) {
    return absl::StrContains(fn, "rwlock_rdlock") || absl::StrContains(fn, "rwlock_timedrdlock") ||
           absl::StrContains(fn, "rwlock_clockrdlock") ||                      // glibc, shared_mutex
           absl::StrContains(fn, "lock_shared") ||                             // C++, parking_lot, TBB
           absl::StrContains(fn, "Mutex::ReaderLock") ||                       // absl
           absl::StrContains(fn, "RwLock::read_contended") || absl::EndsWith(fn, "RwLock::read") ||
           (absl::StrContains(fn, "RwLock<") && absl::EndsWith(fn, ">::read"));  // Rust std, lock_api
  };
  for (const Frame& f : frames) {
    if (f.loc.inline_chain.empty() ? shared(f.loc.function)
                                   : std::any_of(f.loc.inline_chain.begin(), f.loc.inline_chain.end(), shared))
      return true;
  }
  return false;
}

}  // namespace

std::string lock_display_name(const LockInfo& lock) {
  if (lock.internal) return std::string(lock.internal->what);
  if (!lock.data.name.empty()) return lock.data.name;
  // A module's static data without a symbol: where it is says more than its address.
  if (lock.data.region == "global" && !lock.data.module.empty())
    return absl::StrFormat("the static lock at %s", lock.data.region_detail);
  return absl::StrFormat("the %s lock at %s", lock.data.region, hex_address(lock.uaddr));
}

std::vector<LockInfo> build_lock_table(const Index& ctx) {
  const Recording& rec = ctx.rec;
  std::map<std::pair<uint32_t, uint64_t>, LockInfo> locks;
  std::set<uint32_t> known_tids;
  for (const auto& t : rec.threads) known_tids.insert(t.tid);
  for (const auto& w : rec.futex_waits) known_tids.insert(w.tid);

  // A process-shared lock is one lock whichever process waited on it: keyed by the
  // canonical address, with the kernel's per-process totals summed.
  auto key_of = [&ctx](uint32_t pid, uint64_t uaddr) {
    const SharedObjects::Address c = ctx.shared.canonical(pid, uaddr);
    return std::make_pair(c.pid, c.addr);
  };
  for (const auto& a : rec.futex_addrs) {
    const auto key = key_of(a.pid, a.uaddr);
    LockInfo& l = locks[key];
    l.pid = key.first;
    l.uaddr = key.second;
    l.waits += a.waits;
    l.wakes += a.wakes;
    l.total_wait_s += a.wait_ns / 1e9;
    l.max_wait_s = std::max(l.max_wait_s, a.max_wait_ns / 1e9);
    for (size_t i = 0; i < l.hist.size(); ++i) l.hist[i] += a.hist_log2_ns[i];
  }
  bool have_kernel_totals = !rec.futex_addrs.empty();
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> val2_by_lock;
  for (const auto& w : rec.futex_waits) {
    const auto key = key_of(w.pid, w.uaddr);
    LockInfo& l = locks[key];
    l.pid = key.first;
    l.uaddr = key.second;
    l.processes.insert(w.pid);
    // An owner or waker counts when it is a thread of a process that maps the lock.
    const std::set<uint32_t> sharers = ctx.shared.processes(w.pid, w.uaddr);
    double d = w.duration_ns / 1e9;
    if (!have_kernel_totals) {
      // A recording without the kernel totals (e.g. made by a test): sum the events.
      l.waits++;
      l.total_wait_s += d;
      l.max_wait_s = std::max(l.max_wait_s, d);
    }
    l.event_waits++;
    auto& wt = l.waiters[w.tid];
    wt.waits++;
    wt.wait_s += d;
    bool owner_known = false;
    if (w.owner_tid > 0 && static_cast<uint32_t>(w.owner_tid) != w.tid &&
        known_tids.count(static_cast<uint32_t>(w.owner_tid))) {
      const ThreadInfo* ot = rec.thread(static_cast<uint32_t>(w.owner_tid));
      if (!ot || sharers.count(ot->pid)) {
        l.owners[static_cast<uint32_t>(w.owner_tid)]++;
        l.waits_with_owner++;
        owner_known = true;
        if (w.owner_syscall >= 0) l.owner_syscall_wait_s[w.owner_syscall] += d;
        if (w.owner_syscall == model::FutexWait::kOwnerPreempted) {
          l.owner_preempted_wait_s += d;
          l.owner_preempted_waits++;
        }
      }
    }
    bool waker_known = false;
    if (w.waker_tid && w.waker_tid != w.tid && known_tids.count(w.waker_tid)) {
      const ThreadInfo* wt_info = rec.thread(w.waker_tid);
      if (!wt_info || sharers.count(wt_info->pid)) {
        l.wakers[w.waker_tid]++;
        l.waits_with_waker++;
        waker_known = true;
        // The handover: from the releaser's FUTEX_WAKE to this waiter's return.
        const uint64_t end = w.start_ns + w.duration_ns;
        if (w.woken_ns >= w.start_ns && w.woken_ns <= end && w.woken_ns) {
          l.handovers++;
          l.handover_s += (end - w.woken_ns) / 1e9;
        }
      }
    }
    if (waker_known && owner_known) {
      l.owner_and_waker++;
      if (static_cast<uint32_t>(w.owner_tid) == w.waker_tid) l.owner_is_waker++;
    }
    if (w.word && w.word != w.uaddr) l.waits_on_other_words++;
    if (w.ret == 0) l.woken_waits++;
    if (w.expected == 2) val2_by_lock[key]++;
    if (w.stack >= 0) l.stack_indices.push_back(w.stack);
  }

  std::vector<double> dur_of_stack(rec.stacks.size(), 0.0);
  for (const auto& w : rec.futex_waits)
    if (w.stack >= 0 && static_cast<size_t>(w.stack) < dur_of_stack.size())
      dur_of_stack[w.stack] = w.duration_ns / 1e9;
  // Copies of one stack share its frames: classified once (kind, shared acquisition).
  std::unordered_map<const std::vector<Frame>*, std::pair<StackKind, bool>> stack_kinds;

  // Event sums per lock, to scale per-thread figures to the kernel's exact totals when
  // the agent kept only a sample of the wait events (long, busy profiles) or some
  // events were dropped.
  std::map<std::pair<uint32_t, uint64_t>, double> event_wait_s;
  for (const auto& w : rec.futex_waits) event_wait_s[key_of(w.pid, w.uaddr)] += w.duration_ns / 1e9;

  std::vector<LockInfo> out;
  for (auto& [key, l] : locks) {
    if (have_kernel_totals && l.event_waits && l.waits > l.event_waits && event_wait_s[key] > 0) {
      const double scale_n = static_cast<double>(l.waits) / l.event_waits;
      const double scale_s = l.total_wait_s / event_wait_s[key];
      for (auto& [tid, w] : l.waiters) {
        w.waits = static_cast<uint64_t>(w.waits * scale_n + 0.5);
        w.wait_s *= scale_s;
      }
      for (auto& [tid, n] : l.owners) n = static_cast<uint64_t>(n * scale_n + 0.5);
      l.waits_with_owner = static_cast<uint64_t>(l.waits_with_owner * scale_n + 0.5);
      for (auto& [tid, n] : l.wakers) n = static_cast<uint64_t>(n * scale_n + 0.5);
      l.waits_with_waker = static_cast<uint64_t>(l.waits_with_waker * scale_n + 0.5);
      l.woken_waits = static_cast<uint64_t>(l.woken_waits * scale_n + 0.5);
      l.handovers = static_cast<uint64_t>(l.handovers * scale_n + 0.5);
      l.handover_s *= scale_n;
      for (auto& [sc, t] : l.owner_syscall_wait_s) t *= scale_s;
      l.owner_preempted_wait_s *= scale_s;
      l.owner_preempted_waits = static_cast<uint64_t>(l.owner_preempted_waits * scale_n + 0.5);
      l.event_waits = l.waits;
    }
    if (Symbolizer* sym = ctx.symbolizer(l.pid)) {
      name_lock_data(*sym, l);
    } else {
      l.data.region = "unknown";
    }
    // Sites and type from the sampled stacks.
    double sampled_total = 0;
    for (int si : l.stack_indices) {
      const auto& frames = ctx.frames(si);
      if (frames.empty()) continue;
      l.unwound_stacks++;
      auto [kind, fresh] = stack_kinds.try_emplace(&frames, StackKind::kOther, false);
      if (fresh) kind->second = {classify_stack(frames), shared_acquisition(frames)};
      switch (kind->second.first) {
        case StackKind::kMutex: l.mutex_stacks++; break;
        case StackKind::kCondvar: l.condvar_stacks++; break;
        case StackKind::kRwlock: l.rwlock_stacks++; break;
        case StackKind::kSemaphore: l.sem_stacks++; break;
        case StackKind::kOther: break;
      }
      if (kind->second.second) l.shared_stacks++;
      const Frame* uf = ctx.user_frame(si);
      if (!uf) continue;
      double d = static_cast<size_t>(si) < dur_of_stack.size() ? dur_of_stack[si] : 0.0;
      sampled_total += d;
      auto it = std::find_if(l.sites.begin(), l.sites.end(),
                             [&](const LockSite& s) { return same_site(s.loc, uf->loc); });
      if (it == l.sites.end()) {
        l.sites.push_back({uf->loc, 0, 0, 0, 0, {}});
        it = l.sites.end() - 1;
      }
      // Direct: the frame the user's function called is the lock function itself (not
      // free() taking the allocator's arena lock on the user's behalf).
      size_t ui = static_cast<size_t>(uf - frames.data());
      if (ui > 0 && StackKind::kOther != classify_frame(frames[ui - 1]) && is_library_frame(frames[ui - 1].loc))
        it->direct_stacks++;
      else if (ui > 0 && it->via.empty())
        it->via = frames[ui - 1].loc.inline_chain.empty() ? frames[ui - 1].loc.function
                                                          : frames[ui - 1].loc.inline_chain.back();
      if (std::find(it->return_pcs.begin(), it->return_pcs.end(), uf->pc) == it->return_pcs.end() &&
          it->return_pcs.size() < 8)
        it->return_pcs.push_back(uf->pc);
      it->stacks++;
      it->sampled_wait_s += d;
    }
    for (auto& s : l.sites) {
      s.share = sampled_total > 0 ? s.sampled_wait_s / sampled_total
                                  : (l.unwound_stacks ? static_cast<double>(s.stacks) / l.unwound_stacks : 0);
      s.est_wait_s = s.share * l.total_wait_s;
    }
    std::sort(l.sites.begin(), l.sites.end(), [](const LockSite& a, const LockSite& b) {
      return a.est_wait_s != b.est_wait_s ? a.est_wait_s > b.est_wait_s : a.stacks > b.stacks;
    });
    // A lock outside any global (a heap object's member): named by the type its lock
    // call's argument points to (lock_code.h), at a site that calls the lock function
    // itself (through a helper, the argument is the helper's, not the lock's address).
    if (Symbolizer* sym = ctx.symbolizer(l.pid); sym && l.data.name.empty() && l.data.region != "global")
      for (const auto& s : l.sites) {
        if (!s.direct_stacks || !l.data.name.empty()) continue;
        for (uint64_t pc : s.return_pcs)
          if (std::string n = lock_argument_name(*sym, pc); !n.empty()) {
            l.data.name = std::move(n);
            break;
          }
      }
    // A lock library's own lock (in its static data, taken by its lock functions on the
    // program's behalf): most sampled waits must show its shape.
    if (!l.data.module.empty() && l.unwound_stacks)
      for (const auto& e : library_internal_locks()) {
        const std::string_view b = std::string_view(l.data.module).substr(l.data.module.rfind('/') + 1);
        if (b.substr(0, e.module_prefix.size()) != e.module_prefix) continue;
        uint64_t n = 0;
        for (int si : l.stack_indices) {
          std::vector<std::string> fns;
          for (const Frame& f : ctx.frames(si)) {
            fns.push_back(f.loc.function);
            fns.insert(fns.end(), f.loc.inline_chain.begin(), f.loc.inline_chain.end());
          }
          if (library_internal_lock(l.data.module, fns) == &e) ++n;
        }
        if (n * 2 > l.unwound_stacks) {
          l.internal = &e;
          l.internal_stacks = n;
          break;
        }
      }
    // Type: the stacks decide; without them, glibc's contended-mutex word value (2).
    using thresholds::kMutexStackShare;
    if (l.unwound_stacks) {
      double n = static_cast<double>(l.unwound_stacks);
      if (l.condvar_stacks / n >= kMutexStackShare) l.type = "condvar";
      else if (l.rwlock_stacks / n >= kMutexStackShare) l.type = "rwlock";
      else if (l.sem_stacks / n >= kMutexStackShare) l.type = "semaphore";
      else if (l.mutex_stacks / n >= kMutexStackShare) l.type = "mutex";
    } else if (l.event_waits && val2_by_lock[key] >= l.event_waits * kMutexStackShare) {
      l.type = "mutex";
    }
    // No owner field (Rust std, parking_lot, absl::Mutex): the threads that released
    // the lock to its waiters held it. Neither: owner_source stays "none".
    if (!l.owners.empty()) {
      l.owner_source = "owner field";
    } else if (!l.wakers.empty()) {
      l.owners = l.wakers;
      l.waits_with_owner = l.waits_with_waker;
      l.owner_source = "waker";
    }
    for (const auto& [tid, w] : l.waiters) l.waiter_thread_s += ctx.thread_lifetime_s(tid);
    out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end(), [](const LockInfo& a, const LockInfo& b) {
    return a.total_wait_s != b.total_wait_s ? a.total_wait_s > b.total_wait_s : a.uaddr < b.uaddr;
  });
  return out;
}

void charge_library_lock_cpu(Index& index) {
  for (LockInfo& l : index.locks) {
    if (!l.internal) continue;
    Symbolizer* sym = index.symbolizer(l.pid);
    if (!sym) continue;
    for (const auto& s : index.rec.memory_samples) {
      if (s.pid != l.pid || !l.waiters.count(s.tid)) continue;
      ++l.library_cpu_of_samples;
      const MemoryMap* m = sym->map_of(s.regs[kRip]);
      if (!m) continue;
      const std::string_view b = std::string_view(m->path).substr(m->path.rfind('/') + 1);
      for (std::string_view p : l.internal->cpu_modules)
        if (b.substr(0, p.size()) == p) {
          ++l.library_cpu_samples;
          break;
        }
    }
    l.library_cpu_s = l.library_cpu_samples * index.memory.period_s;
  }
}

void name_lock_data(Symbolizer& sym, LockInfo& l) {
  l.data = sym.data(l.uaddr);
  // `Cache::mu_` inside a global object: name the member, as the source does.
  if (!l.data.name.empty() && l.data.name.find('+') != std::string::npos) {
    std::string member = data_member_name(sym, l.uaddr);
    if (!member.empty()) l.data.name = member;
  }
}

nlohmann::json lock_to_json(const LockInfo& l, const ThreadTable& threads) {
  nlohmann::json waiters = nlohmann::json::array();
  for (const auto& [tid, w] : l.waiters)
    waiters.push_back({{"tid", tid}, {"comm", threads.comm(tid)}, {"waits", w.waits}, {"wait_s", w.wait_s}});
  std::sort(waiters.begin(), waiters.end(),
            [](const auto& a, const auto& b) { return a["wait_s"].template get<double>() > b["wait_s"].template get<double>(); });
  nlohmann::json owners = nlohmann::json::array();
  for (const auto& [tid, n] : l.owners) owners.push_back({{"tid", tid}, {"comm", threads.comm(tid)}, {"seen", n}});
  std::sort(owners.begin(), owners.end(),
            [](const auto& a, const auto& b) { return a["seen"].template get<uint64_t>() > b["seen"].template get<uint64_t>(); });
  nlohmann::json wakers = nlohmann::json::array();
  for (const auto& [tid, n] : l.wakers) wakers.push_back({{"tid", tid}, {"comm", threads.comm(tid)}, {"woke", n}});
  std::sort(wakers.begin(), wakers.end(),
            [](const auto& a, const auto& b) { return a["woke"].template get<uint64_t>() > b["woke"].template get<uint64_t>(); });
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& s : l.sites)
    sites.push_back(place_json(s.loc, {{"wait_s", s.est_wait_s}, {"share", s.share}, {"stacks", s.stacks}}));
  return {{"address", hex_address(l.uaddr)},
          {"pid", l.pid},
          {"processes", l.processes},
          {"name", l.data.name},
          {"region", l.data.region},
          {"region_detail", l.data.region_detail},
          {"type", l.type},
          {"waits", l.waits},
          {"total_wait_s", l.total_wait_s},
          {"max_wait_s", l.max_wait_s},
          {"wakes", l.wakes},
          {"wait_share", l.wait_share()},
          {"histogram_log2_ns", l.hist},
          {"waiters", waiters},
          {"owners", owners},
          {"waits_with_owner", l.waits_with_owner},
          {"owner_source", l.owner_source},
          {"spin_samples", l.spin_samples},
          {"wakers", wakers},
          {"waits_with_waker", l.waits_with_waker},
          {"owner_and_waker", l.owner_and_waker},
          {"owner_is_waker", l.owner_is_waker},
          {"waits_on_other_words", l.waits_on_other_words},
          {"yields", l.yields},
          {"yield_s", l.yield_s},
          {"owner_preempted_wait_s", l.owner_preempted_wait_s},
          {"owner_preempted_waits", l.owner_preempted_waits},
          {"woken_waits", l.woken_waits},
          {"handovers", l.handovers},
          {"handover_s", l.handover_s},
          {"sites", sites},
          {"stacks_sampled", l.stack_indices.size()},
          {"stacks_unwound", l.unwound_stacks},
          {"library_internal",
           l.internal ? nlohmann::json{{"library", l.internal->library},
                                       {"what", l.internal->what},
                                       {"stacks", l.internal_stacks},
                                       {"cpu_samples_in_library", l.library_cpu_samples},
                                       {"cpu_samples", l.library_cpu_of_samples},
                                       {"cpu_s_in_library", l.library_cpu_s}}
                      : nlohmann::json(nullptr)}};
}

}  // namespace ccprof::profiler
