#pragma once
// The rule interface. A rule reads the index and returns findings; it never writes
// report tables, never reads another rule's output, and never touches the recording's
// raw bytes except through the index. One file per rule family (lock_rules.cc,
// memory_rules.cc, queue_rules.cc, sched_rules.cc, gil_rules.cc); scale_rules.cc
// works on a scale study, not on a profile, and is called by `ccprof scale`.
#include <memory>
#include <utility>
#include <string_view>
#include <vector>

#include "profiler/finding.h"
#include "profiler/index.h"

namespace ccprof::profiler {

class Rule {
 public:
  virtual ~Rule() = default;
  // The finding kinds this rule can raise (each must be in the catalog).
  virtual std::vector<std::string_view> kinds() const = 0;
  virtual std::vector<Finding> run(const Index& index) const = 0;
};

// A rule made of a function, for families of small rules.
using RuleFunction = std::vector<Finding> (*)(const Index& index);
std::unique_ptr<Rule> make_rule(std::vector<std::string_view> kinds, RuleFunction run);

// Every rule of a profile, in a fixed order (the order does not change the result:
// arbitration and ranking come after all of them).
const std::vector<std::unique_ptr<Rule>>& profile_rules();

// Each family's rules, for profile_rules() and for tests.
// A family from its rules, in order: rule_family(make_rule(...), make_rule(...)).
template <typename... Rules>
std::vector<std::unique_ptr<Rule>> rule_family(Rules... rules) {
  std::vector<std::unique_ptr<Rule>> out;
  (out.push_back(std::move(rules)), ...);
  return out;
}

std::vector<std::unique_ptr<Rule>> lock_rule_family();
std::vector<std::unique_ptr<Rule>> lock_order_rule_family();
std::vector<std::unique_ptr<Rule>> memory_rule_family();
std::vector<std::unique_ptr<Rule>> queue_rule_family();
std::vector<std::unique_ptr<Rule>> sched_rule_family();
std::vector<std::unique_ptr<Rule>> gil_rule_family();

// The rule that raises `kind` (nullptr when none does): tests drive one rule at a time.
const Rule* rule_for(std::string_view kind);

}  // namespace ccprof::profiler
