#pragma once
// Critical sections, measured: how long each mutex was held per acquiring call site (a
// distribution read from the kernel's quarter-octave histogram) and which share of the
// measured time it was held, from the lockrate collector's uprobe windows
// (Recording::lockhold). Also the order in which threads took nested mutexes.
#include <cstdint>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "profiler/finding.h"
#include "profiler/symbolizer.h"

namespace ccprof::model {
struct LockHoldSite;
}

namespace ccprof::profiler {

class Index;

struct HoldDistribution {
  uint64_t holds = 0;  // complete holds measured
  double total_s = 0, max_s = 0;
  double p50_s = 0, p99_s = 0;  // 0 when no complete hold
};

struct LockHoldSiteInfo {
  CodeLocation loc;       // the caller of pthread_mutex_lock/trylock (acquiring call site)
  HoldDistribution dist;
  double held_s = 0;      // complete + clipped hold time at this site inside the windows
  double share_of_time = 0;  // held_s / window time: the share of time this site held the lock
  // This site's part of the time the lock was held where the acquisition was seen (the
  // part of holds acquired before a window opened has no call site).
  double share_of_hold = 0;
};

struct LockHold {
  uint32_t pid = 0;
  uint64_t lock = 0;
  double window_s = 0;       // time measured (the lockrate windows)
  HoldDistribution dist;     // all sites
  double held_s = 0;         // complete + clipped
  double share_held = 0;     // held_s / window_s, capped at 1
  uint64_t clipped = 0;      // holds cut by a window's edge (only their part inside counted)
  std::vector<LockHoldSiteInfo> sites;  // by held_s, descending; sites with a location only
};

// Reads a percentile from a LockHoldSite histogram (bucket midpoints, capped at max_ns).
double hold_percentile(const std::vector<std::pair<uint32_t, uint64_t>>& hist, uint32_t sub_bits, double q,
                       uint64_t max_ns);
// Lower bound in ns of a histogram bucket.
uint64_t hold_bucket_lower_ns(uint32_t bucket, uint32_t sub_bits);

// Empty when the collector did not measure critical sections.
std::vector<LockHold> build_lock_holds(const Index& index);

// "it was held 91% of the measured time; 97% of that at flush_locked (log.cc:212) (p50 40 µs,
// p99 3 ms, 1200 holds)"
std::string hold_text(const LockHold& h);
nlohmann::json hold_to_json(const LockHold& h);
// Adds the lock's measured critical sections to a finding about it: a sentence in the
// explanation and evidence.hold. Nothing when they were not measured.
void add_hold_evidence(Finding& f, const Index& index, uint32_t pid, uint64_t lock);

}  // namespace ccprof::profiler
