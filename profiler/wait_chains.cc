#include "profiler/wait_chains.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "profiler/index.h"
#include "profiler/text.h"
#include "profiler/thresholds.h"

namespace ccprof::profiler {
namespace {

// A chain longer than this is cut there (a convoy of threads each waiting for the next).
constexpr int kMaxDepth = 8;

bool is_lock(const LockInfo* l) { return l && (l->type == "mutex" || l->type == "rwlock"); }

// The owner recorded at a wait, when it is another thread of the same process.
const ThreadRow* owner_of(const Index& ctx, const FutexWait& w) {
  if (w.owner_tid <= 0 || static_cast<uint32_t>(w.owner_tid) == w.tid) return nullptr;
  const ThreadRow* o = ctx.threads.find(static_cast<uint32_t>(w.owner_tid));
  return o && o->pid == w.pid ? o : nullptr;
}

}  // namespace

std::vector<WaitChain> build_wait_chains(const Index& ctx) {
  const Recording& rec = ctx.rec;
  // Each thread's waits by start time, to find what an owner was waiting for at an instant.
  std::map<uint32_t, std::vector<const FutexWait*>> by_tid;
  for (const auto& w : rec.futex_waits) by_tid[w.tid].push_back(&w);
  for (auto& [tid, ws] : by_tid)
    std::sort(ws.begin(), ws.end(), [](const FutexWait* a, const FutexWait* b) { return a->start_ns < b->start_ns; });
  auto waiting_at = [&](uint32_t tid, uint64_t t) -> const FutexWait* {
    auto it = by_tid.find(tid);
    if (it == by_tid.end()) return nullptr;
    const auto& ws = it->second;
    auto after = std::upper_bound(ws.begin(), ws.end(), t, [](uint64_t v, const FutexWait* w) { return v < w->start_ns; });
    if (after == ws.begin()) return nullptr;
    const FutexWait* w = *(after - 1);
    return w->start_ns + w->duration_ns > t ? w : nullptr;
  };
  // Where in the program a syscall instruction is reached from (not the libc wrapper):
  // the first sampled stack of a blocking syscall at that instruction, by (pid, ip).
  std::map<std::pair<uint32_t, uint64_t>, int> syscall_stacks;
  if (const SchedSection* sec = ctx.sched())
    for (const auto& s : sec->long_syscalls)
      if (s.stack >= 0) syscall_stacks.emplace(std::make_pair(s.pid, s.ip), s.stack);
  // The kept wait events are a uniform sample when the agent thinned them.
  const double scale = rec.futex.keep_every > 1 ? static_cast<double>(rec.futex.keep_every) : 1.0;

  std::map<std::tuple<uint32_t, std::vector<uint64_t>, std::string, std::string>, WaitChain> chains;
  for (const auto& w : rec.futex_waits) {
    const LockInfo* first = ctx.lock(w.pid, w.uaddr);
    if (!is_lock(first) || !owner_of(ctx, w)) continue;
    WaitChain c;
    c.pid = w.pid;
    c.locks.push_back(w.uaddr);
    std::set<uint32_t> seen{w.tid};
    const FutexWait* link = &w;  // the wait whose owner is being looked at
    const uint64_t t = w.start_ns;
    for (int depth = 0;; ++depth) {
      const ThreadRow* owner = owner_of(ctx, *link);
      if (!owner) {
        c.root_kind = "lock";
        c.root_what = "owner unknown";
        break;
      }
      if (!seen.insert(owner->tid).second) {
        c.root_kind = "cycle";
        c.root_what = "the chain returns to a thread in it";
        break;
      }
      const FutexWait* next = waiting_at(owner->tid, t);
      const LockInfo* next_lock = next ? ctx.lock(next->pid, next->uaddr) : nullptr;
      if (next && is_lock(next_lock) && depth + 1 < kMaxDepth) {
        c.locks.push_back(next->uaddr);
        link = next;
        continue;
      }
      if (next) {  // a condvar or another futex: the owner waits for an event, not a lock
        c.root_kind = "futex";
        c.root_what = next_lock ? next_lock->type + " wait" : "futex wait";
        break;
      }
      // The owner was not waiting on a futex: running with the lock, or in a syscall.
      // The syscall is known at the start of the wait that named this owner.
      if (link->owner_syscall >= 0 && link->owner_syscall_since_ns <= t && is_blocking_syscall(link->owner_syscall)) {
        c.root_kind = "syscall";
        c.root_what = syscall_name(link->owner_syscall) + "()";
        auto st = syscall_stacks.find({link->pid, link->owner_syscall_ip});
        const Frame* user = st != syscall_stacks.end() ? ctx.user_frame(st->second) : nullptr;
        if (user) {
          c.root_site = user->loc;
          c.has_root_site = true;
        } else if (link->owner_syscall_ip) {
          c.root_site = ctx.code(link->pid, link->owner_syscall_ip);
          c.has_root_site = true;
        }
      } else {
        c.root_kind = "running";
        c.root_what = "holding the lock";
        if (const LockHold* h = ctx.lock_hold(link->pid, link->uaddr); h && !h->sites.empty()) {
          c.root_site = h->sites.front().loc;
          c.has_root_site = true;
        }
      }
      break;
    }
    auto key = std::make_tuple(c.pid, c.locks, c.root_kind, c.root_what + site_text(c.root_site));
    WaitChain& acc = chains.try_emplace(key, c).first->second;
    acc.waits += static_cast<uint64_t>(scale);
    acc.wait_s += w.duration_ns / 1e9 * scale;
  }
  std::vector<WaitChain> out;
  for (auto& [k, c] : chains) {
    for (uint64_t a : c.locks) {
      const LockInfo* l = ctx.lock(c.pid, a);
      c.names.push_back(l ? lock_display_name(*l) : hex_address(a));
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const WaitChain& a, const WaitChain& b) { return a.wait_s > b.wait_s; });
  return out;
}

namespace {

nlohmann::json chain_row(const WaitChain& c) {
  nlohmann::json root = {{"kind", c.root_kind}, {"what", c.root_what}};
  if (c.has_root_site) {
    root["function"] = c.root_site.function;
    root["file"] = c.root_site.file;
    root["line"] = c.root_site.line;
  }
  nlohmann::json addresses = nlohmann::json::array();
  for (uint64_t x : c.locks) addresses.push_back(hex_address(x));
  return {{"pid", c.pid},     {"locks", c.names}, {"addresses", addresses}, {"depth", c.locks.size()},
          {"root", root},     {"waits", c.waits}, {"wait_s", c.wait_s}};
}

}  // namespace

std::string chains_behind_lock(const Index& ctx, uint32_t pid, uint64_t lock, nlohmann::json* rows) {
  double all_s = 0;
  std::vector<WaitChain> deep;
  for (WaitChain& c : build_wait_chains(ctx)) {
    if (c.pid != pid || c.locks.empty() || c.locks.front() != lock) continue;
    all_s += c.wait_s;
    if (c.locks.size() >= 2) deep.push_back(std::move(c));
  }
  double deep_s = 0;
  for (const auto& c : deep) deep_s += c.wait_s;
  if (all_s <= 0 || deep.empty() || deep_s / all_s < thresholds::kWaitChainMentionShare) return "";
  if (rows) {
    *rows = nlohmann::json::array();
    for (const auto& c : deep) rows->push_back(chain_row(c));
  }
  const WaitChain& top = deep.front();  // by wait, descending
  std::string path;
  for (size_t i = 1; i < top.names.size(); ++i) path += (i > 1 ? " then " : "") + top.names[i];
  return absl::StrFormat(
      " %s of the recorded waits for it were behind an owner that was itself waiting (for %s); the root of the "
      "longest chain (%s) is %s%s, so that is where the time goes.",
      pct(deep_s / all_s), path, duration_text(top.wait_s), top.root_what,
      top.has_root_site ? " at " + site_text(top.root_site) : std::string());
}

nlohmann::json wait_chains_table(const Index& ctx, size_t limit) {
  nlohmann::json rows = nlohmann::json::array();
  for (const WaitChain& c : build_wait_chains(ctx)) {
    if (rows.size() >= limit) break;
    rows.push_back(chain_row(c));
  }
  return rows;
}

}  // namespace ccprof::profiler
