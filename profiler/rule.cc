#include "profiler/rule.h"

#include <algorithm>

namespace ccprof::profiler {
namespace {

class FunctionRule : public Rule {
 public:
  FunctionRule(std::vector<std::string_view> kinds, RuleFunction run) : kinds_(std::move(kinds)), run_(run) {}
  std::vector<std::string_view> kinds() const override { return kinds_; }
  std::vector<Finding> run(const Index& index) const override { return run_(index); }

 private:
  std::vector<std::string_view> kinds_;
  RuleFunction run_;
};

}  // namespace

std::unique_ptr<Rule> make_rule(std::vector<std::string_view> kinds, RuleFunction run) {
  return std::make_unique<FunctionRule>(std::move(kinds), run);
}

const std::vector<std::unique_ptr<Rule>>& profile_rules() {
  static const std::vector<std::unique_ptr<Rule>> kRules = [] {
    std::vector<std::unique_ptr<Rule>> all;
    for (auto family : {&lock_rule_family, &lock_order_rule_family, &sched_rule_family, &queue_rule_family,
                        &gil_rule_family, &memory_rule_family})
      for (auto& r : family()) all.push_back(std::move(r));
    return all;
  }();
  return kRules;
}

const Rule* rule_for(std::string_view kind) {
  for (const auto& r : profile_rules()) {
    auto k = r->kinds();
    if (std::find(k.begin(), k.end(), kind) != k.end()) return r.get();
  }
  return nullptr;
}

}  // namespace ccprof::profiler
