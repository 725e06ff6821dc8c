#pragma once
// The catalog: every finding kind ccprof can raise and every loss counter it can
// report, declared once in profiler/catalog.json (embedded at build time). Rules make
// their findings from it (`new_finding`), the report embeds it in findings.json,
// `ccprof catalog` prints it for the scenario matrix, and a unit test checks the
// README's table and the page against it.
#include <string>
#include <string_view>
#include <vector>

#include "profiler/finding.h"

namespace ccprof::profiler {

struct KindInfo {
  std::string kind;            // "lock-contention"
  int scenario = 0;            // 1..14 of SCENARIOS.md; 0 = beyond the matrix
  std::string scenario_title;  // the seed's name of the scenario ("the Python GIL")
  std::string remedy_kind;     // "shard"
  std::string label;           // "Lock contention"
  std::string remedy;          // one line: what the remedy is
  SubjectKind subject = SubjectKind::kNone;
  // A general diagnosis that yields to a more specific finding on the same subject
  // (a lock whose waits another finding explains gets that finding alone).
  bool general = false;
};

struct LossInfo {
  std::string name;    // "futex.wait_events_dropped"; a prefix when it ends in '.' or ": "
  std::string detail;  // what it means for the profile
};

const std::vector<KindInfo>& finding_kinds();
// nullptr for an unknown kind.
const KindInfo* kind_info(std::string_view kind);
// A finding of `kind` with its scenario and remedy kind filled from the catalog.
// Aborts on a kind the catalog does not list (a programming error, caught by tests).
Finding new_finding(std::string_view kind);
// Gives an existing finding `kind` (its scenario and remedy kind from the catalog).
void set_kind(Finding& f, std::string_view kind);

const std::vector<LossInfo>& loss_counters();
// The description of a loss counter ("" when it has none).
std::string describe_loss(const std::string& name);
const char* subject_kind_name(SubjectKind k);

}  // namespace ccprof::profiler
