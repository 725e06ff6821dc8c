#include "profiler/holder_stacks.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "profiler/index.h"
#include "profiler/tables.h"
#include "profiler/text.h"

namespace ccprof::profiler {

namespace {

// Adds one sampled hold to `agg` (keyed by its root-first frame names); false when its
// stack did not unwind.
bool add_sample(const Index& index, const model::LockHoldSample& s, std::map<std::vector<std::string>, HolderStack>& agg) {
  if (s.stack < 0) return false;
  std::vector<std::string> names = frame_names_root_first(index.frames(s.stack));
  if (names.empty()) return false;
  HolderStack& h = agg[names];
  if (h.frames.empty()) {
    h.frames = std::move(names);
    if (const Frame* u = index.user_frame(s.stack)) h.leaf = u->loc;
  }
  h.hold_s += s.hold_ns / 1e9;
  h.holds++;
  return true;
}

}  // namespace

LockHolders lock_holders(const Index& index, uint32_t pid, uint64_t lock) {
  LockHolders out;
  out.pid = pid;
  out.lock = lock;
  std::map<std::vector<std::string>, HolderStack> agg;
  for (const auto& s : index.rec.lockhold.samples) {
    if (s.pid != pid || s.lock != lock || !add_sample(index, s, agg)) continue;
    out.sampled_holds++;
    out.sampled_s += s.hold_ns / 1e9;
  }
  for (auto& [k, h] : agg) out.stacks.push_back(std::move(h));
  std::sort(out.stacks.begin(), out.stacks.end(), [](const HolderStack& a, const HolderStack& b) {
    return a.hold_s != b.hold_s ? a.hold_s > b.hold_s : a.frames < b.frames;
  });
  return out;
}

nlohmann::json holder_stacks_table(const Index& index) {
  std::set<std::pair<uint32_t, uint64_t>> locks;
  for (const auto& s : index.rec.lockhold.samples) locks.insert({s.pid, s.lock});
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [pid, lock] : locks)
    for (const HolderStack& h : lock_holders(index, pid, lock).stacks)
      rows.push_back({{"lock", hex_address(lock)}, {"frames", h.frames}, {"hold_s", h.hold_s}, {"count", h.holds}});
  return rows;
}

void add_holder_evidence(Finding& f, const Index& index, uint32_t pid, uint64_t lock, const CodeLocation* top_site) {
  const LockHolders h = lock_holders(index, pid, lock);
  if (h.stacks.empty() || !f.evidence.contains("hold")) return;
  const HolderStack& top = h.stacks.front();
  const double share = h.sampled_s > 0 ? top.hold_s / h.sampled_s : 0;
  nlohmann::json j = {{"sampled_holds", h.sampled_holds},
                      {"sampled_s", h.sampled_s},
                      {"stacks", h.stacks.size()},
                      {"top_stack_share", share},
                      {"top_stack_holds", top.holds}};
  if (!top.leaf.function.empty()) j["top_stack_user_frame"] = place_json(top.leaf);
  f.evidence["hold"]["holders"] = std::move(j);
  // Said only where it adds to the acquiring call site the hold text already names.
  if (top.leaf.function.empty() || (top_site && same_site(*top_site, top.leaf))) return;
  f.explanation += absl::StrFormat(" The holding stack with the most sampled hold time (%s of %s) took it in %s.",
                                   pct(share), count_of(h.sampled_holds, "sampled hold", "sampled holds"),
                                   site_text(top.leaf));
}

}  // namespace ccprof::profiler
