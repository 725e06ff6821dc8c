#include "profiler/spin_locks.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "profiler/frame_callers.h"
#include "profiler/index.h"
#include "profiler/lock_libraries.h"
#include "profiler/lock_table.h"
#include "profiler/text.h"
#include "spdlog/spdlog.h"

namespace ccprof::profiler {

// Whether a function is a lock's acquisition by its name (SpinLock::lock, acquire(),
// spin_lock, lockExclusive): a word of its last name component, split at '_' and at
// camel-case humps, is lock, spinlock or acquire ("block", "clock", "unlock" are not).
bool looks_like_lock_function(std::string name) {
  if (const size_t paren = name.find('('); paren != std::string::npos) name.resize(paren);
  std::string plain;  // without template arguments
  int depth = 0;
  for (char ch : name) {
    depth += ch == '<';
    if (depth == 0) plain += ch;
    depth -= ch == '>' && depth > 0;
  }
  name = plain;
  if (const size_t colon = name.rfind("::"); colon != std::string::npos) name = name.substr(colon + 2);
  std::vector<std::string> words(1);
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(name[i]);
    if (!std::isalnum(ch)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    if (std::isupper(ch) && i > 0 && std::islower(static_cast<unsigned char>(name[i - 1])) && !words.back().empty())
      words.emplace_back();
    words.back() += static_cast<char>(std::tolower(ch));
  }
  return std::any_of(words.begin(), words.end(),
                     [](const std::string& w) { return w == "lock" || w == "spinlock" || w == "acquire"; });
}

SpinLoopWord spin_loop_word(const std::map<uint64_t, size_t>& addresses_per_word) {
  if (addresses_per_word.size() > 1) return {0, "locks.spin_samples_over_several_words"};
  if (addresses_per_word.empty() || addresses_per_word.begin()->second < kMinSpinLoopAddresses)
    return {0, "locks.spin_samples_word_unknown"};
  return {addresses_per_word.begin()->first, nullptr};
}

namespace {

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

namespace {

// What was seen of one spin lock before its row is made.
struct SpinCandidate {
  std::map<uint32_t, double> spinning;  // tid -> samples in its acquisition loop (estimated, below)
  std::map<uint32_t, uint64_t> held;    // tid -> samples inside its section
  std::map<std::tuple<std::string, std::string, int>, LockSite> sites;
  std::vector<uint64_t> walk_from;      // where its critical section's code is walked from
  bool section_found = false;
};

void add_row(Index& idx, uint32_t pid, uint64_t word, SpinCandidate& c, const char* how) {
  const double period_s = idx.memory.period_s;
  LockInfo l;
  l.pid = pid;
  l.uaddr = word;
  l.type = "mutex";
  l.spin_section_found = c.section_found;
  double spun = 0;
  for (const auto& [tid, k] : c.spinning) {
    LockInfo::Waiter& w = l.waiters[tid];
    w.wait_s = k * period_s;
    l.total_wait_s += w.wait_s;
    spun += k;
    l.waiter_thread_s += idx.thread_lifetime_s(tid);
  }
  l.spin_samples = static_cast<uint64_t>(spun + 0.5);
  double site_total = 0;
  for (const auto& [k, s] : c.sites) site_total += s.sampled_wait_s;
  if (c.walk_from.size() > 8) c.walk_from.resize(8);
  for (auto& [k, s] : c.sites) {
    if (s.return_pcs.empty()) s.return_pcs = c.walk_from;
    s.share = site_total > 0 ? s.sampled_wait_s / site_total : 0;
    s.est_wait_s = s.share * l.total_wait_s;
    l.sites.push_back(std::move(s));
  }
  std::stable_sort(l.sites.begin(), l.sites.end(),
                   [](const LockSite& a, const LockSite& b) { return a.est_wait_s > b.est_wait_s; });
  uint64_t inside = 0;
  for (const auto& [tid, k] : c.held) inside += k;
  if (!c.held.empty()) {
    l.owners = c.held;
    l.owner_source = "sampled in section";
  }
  if (Symbolizer* sym = idx.symbolizer(pid)) name_lock_data(*sym, l);
  spdlog::debug("program spin lock {} ({}, {}): {} samples spinning in {} threads, {} inside its section",
                hex_address(word), l.data.name, how, l.spin_samples, c.spinning.size(), inside);
  idx.locks.push_back(std::move(l));
}

// The samples in an out-of-line lock function's acquisition loop, by the word their
// caller's call passes it at a static address (lock_code.h static_call_argument; through
// a scope guard's constructor out of line, the guard's caller's): at -O0 most of the
// loop's samples land after its `pause`, on the reload of `this` from the stack, and name
// no word by their own access (3-25 of ~3,600 in 5 s did in s01-program-spinlock), while
// every one of them has its caller by frame pointers.
struct PassedWords {
  std::map<uint64_t, std::map<uint32_t, uint64_t>> spinning;  // word -> tid -> samples
  std::map<uint64_t, std::vector<uint64_t>> callers;          // word -> each sample's return address
  uint64_t unknown = 0;  // loop samples with no caller, or whose call passes no static address
};

PassedWords passed_words(Index& idx, uint32_t pid, const SpinSection& section) {
  PassedWords out;
  Symbolizer* sym = idx.symbolizer(pid);
  if (!sym) return out;
  FrameCallerFinder finder(*sym);
  std::map<uint64_t, uint64_t> passed_at;  // return address -> the static argument (0: none)
  for (const auto& m : idx.rec.memory_samples) {
    if (m.pid != pid) continue;
    const uint64_t ip = m.regs[kRip];
    if (!section.spinning_at(ip)) continue;
    const FrameCallers chain = finder.callers(ip, m);
    uint64_t ret = chain[0];
    ZydisRegister reg = ZYDIS_REGISTER_RDI;  // the lock function's `this`
    if (ret && is_guard_constructor(idx.code(pid, ret - 1).function)) {
      ret = chain[1];  // the guard's constructor takes the guard in rdi and the lock in rsi
      reg = ZYDIS_REGISTER_RSI;
    }
    uint64_t word = 0;
    if (ret) {
      auto [it, fresh] = passed_at.try_emplace(ret, 0);
      if (fresh) it->second = static_call_argument(*sym, ret, reg);
      word = it->second;
    }
    if (!word) {
      ++out.unknown;
      continue;
    }
    ++out.spinning[word][m.tid];
    out.callers[word].push_back(ret);
  }
  return out;
}

}  // namespace

int add_program_spin_locks(Index& idx) {
  const double period_s = idx.memory.period_s;
  if (period_s <= 0) return 0;  // PMU mode: a sample is not a known amount of CPU time
  std::set<std::pair<uint32_t, uint64_t>> rows;
  for (const LockInfo& l : idx.locks) rows.insert({l.pid, l.uaddr});
  auto is_new = [&](uint32_t pid, uint64_t word) {  // no row yet, and not memory processes share
    return !rows.count({pid, word}) && idx.lock_key(pid, word) == std::make_pair(pid, word);
  };
  // (1) Words the program's own functions exchange at a static address (decoded once per
  // function), where a sampled access of that function touched that word: the spinning
  // of a test-and-test-and-set lock is mostly loads of its word, not its exchange.
  // (2) Lock functions out of line (-O0's SpinLock::lock(), its word from `this`): a
  // function named like one that exchanges a word through a register in a retry loop
  // and returns holding it; its word is the data address its loop's sampled accesses
  // touched or the static address its callers pass it (spin_loop_word, passed_words),
  // and the callers (frame pointers) the user's lines.
  std::map<std::pair<uint32_t, std::string>, std::set<uint64_t>> function_words;
  std::map<std::pair<uint32_t, std::string>, SpinSection> lock_functions;
  std::map<std::pair<uint32_t, uint64_t>, std::set<uint64_t>> exchanged;  // (1): (pid, word) -> instructions
  // (2): (pid, lock function) -> word -> its sampled accesses in the loop, and their callers
  std::map<std::pair<uint32_t, std::string>, std::map<uint64_t, std::vector<uint64_t>>> spun_words;
  for (const auto& a : idx.memory.accesses) {
    const CodeLocation& c = idx.code(a.pid, a.insn_addr);
    if (c.inline_chain.empty() || c.in_system_library || is_lock_library_code(c)) continue;
    Symbolizer* sym = idx.symbolizer(a.pid);
    if (!sym) continue;
    const std::pair<uint32_t, std::string> fn{a.pid, c.inline_chain.back()};
    auto [it, fresh] = function_words.try_emplace(fn);
    if (fresh)
      it->second = decode_lock_exchanges(*sym, a.insn_addr, [](const CodeLocation&) { return true; }).static_words;
    if (it->second.count(a.data_addr)) {
      exchanged[{a.pid, a.data_addr}].insert(a.insn_addr);
      continue;
    }
    if (!looks_like_lock_function(fn.second)) continue;
    auto [lf, first] = lock_functions.try_emplace(fn);
    if (first) lf->second = spin_lock_section(*sym, a.insn_addr, 0);
    const SpinSection& s = lf->second;
    if (s.acquisitions && s.retry_instructions && s.returns_held && s.spinning_at(a.insn_addr))
      spun_words[fn][a.data_addr].push_back(a.callers[0]);
  }
  int added = 0;
  for (const auto& [key, insns] : exchanged) {
    const auto [pid, word] = key;
    if (!is_new(pid, word)) continue;
    Symbolizer* sym = idx.symbolizer(pid);
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
    SpinCandidate c;
    c.section_found = true;
    for (const auto& [tid, k] : n.spinning) c.spinning[tid] = static_cast<double>(k);
    c.held = n.held;
    // Each spinning sample's site: the user's line that called the lock.
    for (const auto& s : idx.rec.memory_samples) {
      if (s.pid != pid) continue;
      const uint64_t ip = s.regs[kRip];
      if (!std::any_of(sections.begin(), sections.end(), [ip](const SpinSection& sec) { return sec.spinning_at(ip); }))
        continue;
      const CodeLocation site = acquisition_site(idx.code(pid, ip));
      LockSite& ls = c.sites[{site.function, site.file, site.line}];
      ls.loc = site;
      ls.sampled_wait_s += period_s;
    }
    // The section's code is walked (critical_section.h) from its first instructions.
    for (const SpinSection& sec : sections) c.walk_from.insert(c.walk_from.end(), sec.entries.begin(), sec.entries.end());
    add_row(idx, pid, word, c, "its exchange's static address");
    rows.insert(key);
    ++added;
  }
  for (const auto& [fn, words] : spun_words) {
    const auto& [pid, name] = fn;
    const SpinSection& section = lock_functions.at(fn);
    // Every sample in the loop spins for one of its words: those with an address say
    // which, and so do those whose caller passes a static word (spin_loop_word,
    // passed_words). s01-program-spinlock -O0: 0-6 of ~1,100 spinning samples carried the
    // word's address in 1.5 s, 2-23 in 3 s, 3-25 in 5 s; its calls named it for 2,450 of
    // 2,450 in 5 s. Its fixed variant (64 shards picked uniformly, `&g_shards[i]` computed:
    // no call names one) still spins 25% of its threads' time on the 2-CPU VM (a shard's
    // holder preempted), over 4-17 shards by their addresses; sharing that out by the one
    // or two addresses seen had charged all of it to one shard ("g_shards[5]: 25% of their
    // time"). Such samples are counted, not charged.
    const SpinSamples n = count_spin_samples(idx, pid, {section});
    const PassedWords passed = passed_words(idx, pid, section);
    std::map<uint64_t, size_t> addresses;
    for (const auto& [word, callers] : words) addresses[word] = callers.size();
    for (const auto& [word, rets] : passed.callers) addresses[word] += rets.size();
    const SpinLoopWord verdict = spin_loop_word(addresses);
    if (verdict.loss) {
      uint64_t spun = 0;
      for (const auto& [tid, k] : n.spinning) spun += k;
      idx.losses[verdict.loss] += spun;
      spdlog::debug("program spin lock function {}: {} samples spinning, their addresses naming {} words: "
                    "not charged to a word ({})",
                    name, spun, words.size(), verdict.loss);
      continue;
    }
    const uint64_t word = verdict.word;
    if (!is_new(pid, word)) continue;
    SpinCandidate c;
    // With calls that pass the word, the samples they account for are its, and the loop's
    // others (no caller, or a call that passes the lock from memory) are counted, not
    // charged: they may spin for another word that no sample named. Without, every
    // sample in the loop is charged to the one word the accesses named.
    const auto by_call = passed.callers.find(word);
    const std::vector<uint64_t>& callers = by_call != passed.callers.end() ? by_call->second : words.at(word);
    if (by_call != passed.callers.end()) {
      for (const auto& [tid, k] : passed.spinning.at(word)) c.spinning[tid] = static_cast<double>(k);
      if (passed.unknown) idx.losses["locks.spin_samples_word_unknown"] += passed.unknown;
    } else {
      for (const auto& [tid, k] : n.spinning) c.spinning[tid] = static_cast<double>(k);
    }
    // The user's lines: the callers of the lock function, by frame pointers; else
    // the lock function itself.
    for (uint64_t ret : callers) {
      const CodeLocation site = ret ? idx.code(pid, ret - 1) : idx.code(pid, *section.spin_pcs.begin());
      LockSite& ls = c.sites[{site.function, site.file, site.line}];
      ls.loc = site;
      ls.sampled_wait_s += period_s;
      if (ret && ls.return_pcs.size() < 8 &&
          std::find(ls.return_pcs.begin(), ls.return_pcs.end(), ret) == ls.return_pcs.end())
        ls.return_pcs.push_back(ret);
    }
    const auto accessed = words.find(word);
    add_row(idx, pid, word, c,
            absl::StrCat("lock function ", name, ", ", accessed != words.end() ? accessed->second.size() : 0,
                         " accesses with its address in the loop, ",
                         by_call != passed.callers.end() ? by_call->second.size() : 0,
                         " samples whose call passes it")
                .c_str());
    rows.insert({pid, word});
    ++added;
  }
  if (added)
    std::stable_sort(idx.locks.begin(), idx.locks.end(), [](const LockInfo& a, const LockInfo& b) {
      return a.total_wait_s != b.total_wait_s ? a.total_wait_s > b.total_wait_s : a.uaddr < b.uaddr;
    });
  return added;
}

}  // namespace ccprof::profiler
