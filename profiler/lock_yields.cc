#include "profiler/lock_yields.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "profiler/index.h"
#include "profiler/text.h"
#include "profiler/lock_code.h"
#include "profiler/lock_libraries.h"
#include "profiler/spin_locks.h"
#include "profiler/thresholds.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {
namespace {

void charge(LockInfo& l, const ResolvedYield& y, const std::function<double(uint32_t)>& lifetime_s) {
  auto [it, new_waiter] = l.waiters.try_emplace(y.tid);
  if (new_waiter) l.waiter_thread_s += lifetime_s(y.tid);
  it->second.wait_s += y.yield_s;
  l.yields += y.yields;
  l.yield_s += y.yield_s;
  l.total_wait_s += y.yield_s;
}

// The function a piece of lock library code is in, at its outermost inline level: the
// out-of-line tbb::mutex::lock, or the user's function the library's header code was
// inlined into.
std::string site_of(const CodeLocation& c) { return c.inline_chain.empty() ? c.function : c.inline_chain.back(); }

// The words each lock library acquisition site touched: the locks whose sampled waits'
// stacks pass through that site's code (one count per stack: tbb::mutex::lock calls its
// probed address wait, so its waits name the mutex), and the memory sampler's accesses
// made by a lock library's code there (the thread's stack and TLS are not among them).
// A futex word no slow path named and only one thread waited on is that thread's own
// wait word (oneTBB's per-thread semaphore, seen when a wait's slow-path entry was not:
// 3-8 waits each on 6 words in a thread's stack, s01-tbb-mutex bad), not a lock the
// site takes.
SpinSites spin_sites(const Index& idx) {
  SpinSites out;
  // Copies of one stack share its frames, and samples of one instruction its location:
  // each looked at once (a busy server's profile has tens of thousands of each).
  std::unordered_map<const std::vector<Frame>*, std::set<std::string>> stack_sites;
  for (const LockInfo& l : idx.locks) {
    if (l.waits_on_other_words == 0 && l.waiters.size() < 2) continue;
    for (int si : l.stack_indices) {
      const std::vector<Frame>& frames = idx.frames(si);
      auto [sites, fresh] = stack_sites.try_emplace(&frames);
      if (fresh)
        for (const Frame& f : frames)
          if (is_lock_library_code(f.loc)) sites->second.insert(site_of(f.loc));
      for (const std::string& site : sites->second)
        if (!site.empty()) ++out[{l.pid, site}][l.uaddr];
    }
  }
  std::map<std::pair<uint32_t, uint64_t>, std::string> site_at;  // "" when not a library's lock code
  for (const auto& a : idx.memory.accesses) {
    auto [site, fresh] = site_at.try_emplace({a.pid, a.insn_addr});
    if (fresh)
      if (const CodeLocation& c = idx.code(a.pid, a.insn_addr); is_lock_library_code(c)) site->second = site_of(c);
    if (site->second.empty()) continue;
    ++out[{a.pid, site->second}][idx.lock_key(a.pid, a.data_addr).second];
  }
  for (const auto& [key, words] : out) {
    uint64_t n = 0;
    for (const auto& [w, k] : words) n += k;
    std::string top;
    for (const auto& [w, k] : words)
      if (top.size() < 200) top += absl::StrCat(" ", hex_address(w), ":", k);
    spdlog::debug("lock library acquisition code {} (pid {}): {} sampled waits and accesses naming {} words:{}", key.second, key.first, n,
                  words.size(), top);
  }
  return out;
}

// A lock that only spun has no owner field and no wake; its holders are the threads the
// memory sampler found inside its critical section (lock_code.h: spin_lock_section),
// read from the acquiring functions of its sites (the yields' return addresses).
void name_spin_lock_holders(Index& idx, LockInfo& l) {
  Symbolizer* sym = idx.symbolizer(l.pid);
  if (!sym) return;
  std::vector<SpinSection> sections;
  for (const LockSite& site : l.sites)
    for (uint64_t pc : site.return_pcs) {
      if (std::any_of(sections.begin(), sections.end(), [pc](const SpinSection& s) { return s.contains(pc); }))
        continue;
      SpinSection s = spin_lock_section(*sym, pc - 1, l.uaddr);
      spdlog::debug("spin lock {}: its acquiring code at {} has {} acquisitions, {} releases, {} instructions held",
                    hex_address(l.uaddr), hex_address(pc), s.acquisitions, s.releases, s.pcs.size());
      if (s.acquisitions && s.releases && !s.pcs.empty()) sections.push_back(std::move(s));
    }
  if (sections.empty()) return;
  l.spin_section_found = true;
  SpinSamples n = count_spin_samples(idx, l.pid, sections);
  if (n.held.empty()) return;
  l.owners = std::move(n.held);
  l.owner_source = "sampled in section";
}

}  // namespace

YieldCharge charge_yields(std::vector<LockInfo>& locks, const std::vector<ResolvedYield>& yields,
                          const std::function<double(uint32_t)>& lifetime_s, const SpinSites& spin_sites) {
  YieldCharge out;
  auto row = [&locks](uint32_t pid, uint64_t lock) -> LockInfo* {
    LockInfo* target = nullptr;
    for (LockInfo& l : locks)
      if (l.uaddr == lock && (l.pid == pid || l.processes.count(pid))) target = &l;
    return target;
  };
  // Rows made here for locks that never slept: their sites' shares are by yield time.
  std::set<std::pair<uint32_t, uint64_t>> spin_rows;
  for (const ResolvedYield& y : yields) {
    if (!y.lock_library) continue;  // the program's own yield: not a lock's
    LockInfo* target = y.lock ? row(y.pid, y.lock) : nullptr;
    bool by_site = false;
    const bool one_word = y.exchanged_words.size() == 1 && y.computed_words == 0;
    if (!y.lock && !y.site.empty() && one_word) {
      // The site's own exchange names its lock: no sample needed, and no other lock.
      const uint64_t word = *y.exchanged_words.begin();
      target = row(y.pid, word);
      if (!target) {
        LockInfo l;
        l.pid = y.pid;
        l.uaddr = word;
        l.type = "mutex";  // a lock library's lock, by its acquisition code
        locks.push_back(std::move(l));
        target = &locks.back();
        spin_rows.insert({y.pid, word});
        ++out.spin_locks;
      }
      if (spin_rows.count({y.pid, word})) {
        auto it = std::find_if(target->sites.begin(), target->sites.end(), [&y](const LockSite& s) {
          return s.loc.function == y.where.function && s.loc.file == y.where.file && s.loc.line == y.where.line;
        });
        if (it == target->sites.end()) it = target->sites.insert(target->sites.end(), LockSite{.loc = y.where});
        it->sampled_wait_s += y.yield_s;  // the site's yield time: its share of the lock's
        // Where its critical section's code is walked from (critical_section.h: from a
        // yield, past the acquisition's exchange).
        if (y.caller && it->return_pcs.size() < 8 &&
            std::find(it->return_pcs.begin(), it->return_pcs.end(), y.caller) == it->return_pcs.end())
          it->return_pcs.push_back(y.caller);
      }
      by_site = true;
      out.charged_by_code += y.yields;
    } else if (!y.lock && !y.site.empty() && y.exchanged_words.size() > 1) {
      out.several_locks += y.yields;  // the site's code exchanges several static words
      out.several_locks_s += y.yield_s;
    } else if (!y.lock && !y.site.empty())
      if (auto it = spin_sites.find({y.pid, y.site}); it != spin_sites.end()) {
        const auto& words = it->second;
        if (words.size() > 1) {
          out.several_locks += y.yields;
          out.several_locks_s += y.yield_s;
        } else if (words.size() == 1 && words.begin()->second >= thresholds::kYieldSiteMinSamples) {
          target = row(y.pid, words.begin()->first);
          by_site = target != nullptr;
        }
      }
    if (!target) {
      out.unattributed += y.yields;
      out.unattributed_s += y.yield_s;
      continue;
    }
    charge(*target, y, lifetime_s);
    out.charged += y.yields;
    out.charged_s += y.yield_s;
    if (by_site) out.charged_by_site += y.yields;
  }
  for (auto& l : locks) {
    if (spin_rows.count({l.pid, l.uaddr}))
      for (auto& s : l.sites) s.share = l.yield_s > 0 ? s.sampled_wait_s / l.yield_s : 0;
    for (auto& s : l.sites) s.est_wait_s = s.share * l.total_wait_s;
    if (spin_rows.count({l.pid, l.uaddr}))
      std::stable_sort(l.sites.begin(), l.sites.end(),
                       [](const LockSite& a, const LockSite& b) { return a.est_wait_s > b.est_wait_s; });
  }
  std::stable_sort(locks.begin(), locks.end(), [](const LockInfo& a, const LockInfo& b) {
    return a.total_wait_s != b.total_wait_s ? a.total_wait_s > b.total_wait_s : a.uaddr < b.uaddr;
  });
  return out;
}

void charge_lock_yields(Index& idx) {
  if (idx.rec.lock_yields.empty()) return;
  std::vector<ResolvedYield> yields;
  std::map<std::pair<uint32_t, std::string>, LockExchanges> exchanges;  // per acquisition site
  for (const auto& y : idx.rec.lock_yields) {
    ResolvedYield r{.pid = y.pid, .tid = y.tid, .yields = y.yields, .yield_s = y.yield_ns / 1e9};
    r.caller = y.caller;
    if (y.lock) r.lock = idx.lock_key(y.pid, y.lock).second;
    if (Symbolizer* sym = idx.symbolizer(y.pid); sym && y.caller) {
      const CodeLocation c = sym->code(y.caller - 1);  // a return address
      r.lock_library = is_lock_library_code(c);
      if (r.lock_library && !y.lock) {
        r.site = site_of(c);
        r.where = c;
        auto [it, fresh] = exchanges.try_emplace({y.pid, r.site});
        if (fresh) {
          const std::string site = r.site;
          it->second = decode_lock_exchanges(*sym, y.caller - 1, [&site](const CodeLocation& at) {
            return is_lock_library_code(at) && site_of(at) == site;
          });
          spdlog::debug("lock library acquisition code {} (pid {}): {} static exchanged words, {} computed", site,
                        y.pid, it->second.static_words.size(), it->second.computed);
        }
        for (uint64_t w : it->second.static_words) r.exchanged_words.insert(idx.lock_key(y.pid, w).second);
        r.computed_words = it->second.computed;
        spdlog::debug("lock library yields outside a slow path: {} in {} (tid {})", y.yields, r.site, y.tid);
      }
    }
    yields.push_back(r);
  }
  const YieldCharge c = charge_yields(idx.locks, yields, [&idx](uint32_t tid) { return idx.thread_lifetime_s(tid); },
                                      spin_sites(idx));
  // Rows made for locks that only spun: named as build_lock_table names its rows, held
  // by the threads sampled inside their critical sections.
  for (LockInfo& l : idx.locks) {
    if (l.waits == 0 && l.data.region.empty())
      if (Symbolizer* sym = idx.symbolizer(l.pid)) name_lock_data(*sym, l);
    if (l.waits == 0 && l.yields && l.owners.empty()) name_spin_lock_holders(idx, l);
  }
  if (c.unattributed) idx.losses["locks.yields_unattributed"] += c.unattributed;
  if (c.several_locks) idx.losses["locks.yields_site_several_locks"] += c.several_locks;
  spdlog::debug("lock yields: {} sched_yield() calls ({:.3f} s) charged to locks ({} by their site's sampled "
                "waits and accesses, {} by the word their code exchanges; {} rows made for locks that only spun), {} ({:.3f} s) unattributed ({} at sites seen taking several locks, {:.3f} s)",
                c.charged, c.charged_s, c.charged_by_site, c.charged_by_code, c.spin_locks, c.unattributed, c.unattributed_s, c.several_locks,
                c.several_locks_s);
}

}  // namespace ccprof::profiler
