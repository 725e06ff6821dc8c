#include "profiler/spin_locks.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <utility>

#include "profiler/index.h"
#include "profiler/lock_libraries.h"
#include "profiler/lock_table.h"
#include "profiler/text.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {
namespace {

// Whether an inlined function is the lock's acquisition (SpinLock::lock, acquire(),
// spin_lock), so that the user's site is the level that called it.
bool looks_like_lock_function(std::string name) {
  if (const size_t paren = name.find('('); paren != std::string::npos) name.resize(paren);
  if (const size_t colon = name.rfind("::"); colon != std::string::npos) name = name.substr(colon + 2);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name.find("lock") != std::string::npos || name.find("acquire") != std::string::npos;
}

// The user's line of an acquisition loop's instruction: the call of the lock function
// when it was inlined into its caller, else the instruction's own line. The level the
// user sees (`c`'s line: the innermost outside system headers, below std::atomic_flag's
// test_and_set) is the lock function's when its name says so.
CodeLocation acquisition_site(const CodeLocation& c) {
  const auto& lv = c.inline_levels;
  size_t k = 0;
  while (k < lv.size() && !(lv[k].file == c.file && lv[k].line == c.line)) ++k;
  if (k + 1 >= lv.size() || !looks_like_lock_function(lv[k].function)) return c;
  CodeLocation out = c;
  out.file = lv[k + 1].file;
  out.line = lv[k + 1].line;
  // The caller's function, as the symbolizer names a level (the outermost is the symbol).
  out.function = k + 2 < lv.size() ? lv[k + 1].function : c.inline_chain.back();
  out.inline_chain.erase(out.inline_chain.begin(), out.inline_chain.begin() + static_cast<long>(k + 1));
  out.inline_levels.erase(out.inline_levels.begin(), out.inline_levels.begin() + static_cast<long>(k + 1));
  return out;
}

}  // namespace

SpinSamples count_spin_samples(const Index& idx, uint32_t pid, const std::vector<SpinSection>& sections) {
  SpinSamples out;
  for (const auto& s : idx.rec.memory_samples) {
    if (s.pid != pid) continue;
    const uint64_t ip = s.regs[kRip];
    for (const SpinSection& sec : sections) {
      if (sec.contains(ip)) {
        ++out.held[s.tid];
        break;
      }
      if (sec.spinning_at(ip)) {
        ++out.spinning[s.tid];
        break;
      }
    }
  }
  return out;
}

int add_program_spin_locks(Index& idx) {
  const double period_s = idx.memory.period_s;
  if (period_s <= 0) return 0;  // PMU mode: a sample is not a known amount of CPU time
  // The words the program's own functions exchange at a static address (decoded once per
  // function), where a sampled access of that function touched that word: the spinning
  // of a test-and-test-and-set lock is mostly loads of its word, not its exchange.
  std::map<std::pair<uint32_t, std::string>, std::set<uint64_t>> function_words;
  std::map<std::pair<uint32_t, uint64_t>, std::set<uint64_t>> exchanged;  // (pid, word) -> instructions
  for (const auto& a : idx.memory.accesses) {
    const CodeLocation& c = idx.code(a.pid, a.insn_addr);
    if (c.inline_chain.empty() || c.in_system_library || is_lock_library_code(c)) continue;
    auto [it, fresh] = function_words.try_emplace({a.pid, c.inline_chain.back()});
    if (fresh)
      if (Symbolizer* sym = idx.symbolizer(a.pid))
        it->second = decode_lock_exchanges(*sym, a.insn_addr, [](const CodeLocation&) { return true; }).static_words;
    if (it->second.count(a.data_addr)) exchanged[{a.pid, a.data_addr}].insert(a.insn_addr);
  }
  std::set<std::pair<uint32_t, uint64_t>> rows;
  for (const LockInfo& l : idx.locks) rows.insert({l.pid, l.uaddr});
  int added = 0;
  for (const auto& [key, insns] : exchanged) {
    const auto [pid, word] = key;
    if (rows.count(key) || idx.lock_key(pid, word) != key) continue;  // a row already, or shared memory
    Symbolizer* sym = idx.symbolizer(pid);
    if (!sym) continue;
    std::vector<SpinSection> sections;
    for (uint64_t ip : insns) {
      if (std::any_of(sections.begin(), sections.end(),
                      [ip](const SpinSection& s) { return s.spinning_at(ip) || s.contains(ip); }))
        continue;
      if (SpinSection s = spin_lock_section(*sym, ip, word); s.is_lock()) sections.push_back(std::move(s));
    }
    if (sections.empty()) continue;
    const SpinSamples n = count_spin_samples(idx, pid, sections);
    if (n.spinning.empty()) continue;
    LockInfo l;
    l.pid = pid;
    l.uaddr = word;
    l.type = "mutex";
    l.spin_section_found = true;
    std::map<std::tuple<std::string, std::string, int>, LockSite> sites;
    for (const auto& [tid, k] : n.spinning) {
      LockInfo::Waiter& w = l.waiters[tid];
      w.wait_s = k * period_s;
      l.total_wait_s += w.wait_s;
      l.spin_samples += k;
      l.waiter_thread_s += idx.thread_lifetime_s(tid);
    }
    // Each spinning sample's site: the user's line that called the lock.
    for (const auto& s : idx.rec.memory_samples) {
      if (s.pid != pid) continue;
      const uint64_t ip = s.regs[kRip];
      if (!std::any_of(sections.begin(), sections.end(), [ip](const SpinSection& sec) { return sec.spinning_at(ip); }))
        continue;
      const CodeLocation site = acquisition_site(idx.code(pid, ip));
      LockSite& ls = sites[{site.function, site.file, site.line}];
      ls.loc = site;
      ls.sampled_wait_s += period_s;
    }
    // Where the section's code is walked from (critical_section.h), as a lock call's
    // return address: the sections' first instructions.
    std::vector<uint64_t> entries;
    for (const SpinSection& sec : sections) entries.insert(entries.end(), sec.entries.begin(), sec.entries.end());
    if (entries.size() > 8) entries.resize(8);
    for (auto& [k, s] : sites) {
      s.return_pcs = entries;
      s.share = l.total_wait_s > 0 ? s.sampled_wait_s / l.total_wait_s : 0;
      s.est_wait_s = s.share * l.total_wait_s;
      l.sites.push_back(std::move(s));
    }
    std::stable_sort(l.sites.begin(), l.sites.end(),
                     [](const LockSite& a, const LockSite& b) { return a.est_wait_s > b.est_wait_s; });
    if (!n.held.empty()) {
      l.owners = n.held;
      l.owner_source = "sampled in section";
    }
    name_lock_data(*sym, l);
    spdlog::debug("program spin lock {} ({}): {} samples spinning in {} threads, {} inside its section", hex_address(word),
                  l.data.name, l.spin_samples, n.spinning.size(), [&n] {
                    uint64_t t = 0;
                    for (const auto& [tid, k] : n.held) t += k;
                    return t;
                  }());
    idx.locks.push_back(std::move(l));
    ++added;
  }
  if (added)
    std::stable_sort(idx.locks.begin(), idx.locks.end(), [](const LockInfo& a, const LockInfo& b) {
      return a.total_wait_s != b.total_wait_s ? a.total_wait_s > b.total_wait_s : a.uaddr < b.uaddr;
    });
  return added;
}

}  // namespace ccprof::profiler
