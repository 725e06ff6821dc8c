#pragma once
// Drives one rule from a hand-built index: the unit tests' seam into profiler/rule.h.
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "profiler/catalog.h"
#include "profiler/index.h"
#include "profiler/rule.h"

namespace ccprof::profiler {

// The findings of the rule that raises `kind` (every kind that rule raises).
inline std::vector<Finding> run_rule(std::string_view kind, const Index& index) {
  const Rule* rule = rule_for(kind);
  EXPECT_NE(rule, nullptr) << "no rule raises " << kind;
  return rule ? rule->run(index) : std::vector<Finding>{};
}

// The findings of the rules that raise any of `kinds`.
inline std::vector<Finding> run_rules(std::initializer_list<std::string_view> kinds, const Index& index) {
  std::vector<const Rule*> rules;
  for (auto k : kinds)
    if (const Rule* r = rule_for(k); r && std::find(rules.begin(), rules.end(), r) == rules.end()) rules.push_back(r);
  std::vector<Finding> out;
  for (const Rule* r : rules)
    for (auto& f : r->run(index)) out.push_back(std::move(f));
  return out;
}

// The first finding of `kind` in `fs`, or nullptr.
inline const Finding* find_kind(const std::vector<Finding>& fs, std::string_view kind) {
  for (const auto& f : fs)
    if (f.kind == kind) return &f;
  return nullptr;
}

// A finding carries its kind's scenario and remedy kind from the catalog.
inline void expect_catalog_fields(const Finding& f) {
  const KindInfo* k = kind_info(f.kind);
  ASSERT_NE(k, nullptr) << f.kind;
  EXPECT_EQ(f.scenario, k->scenario) << f.kind;
  EXPECT_EQ(f.remedy.kind, k->remedy_kind) << f.kind;
}

}  // namespace ccprof::profiler

// const Finding* var: the finding of `kind` in `findings`, which must be there with its
// catalog fields (the test stops here otherwise).
#define ASSERT_FINDING(var, findings, kind)                                              \
  const ::ccprof::profiler::Finding* var = ::ccprof::profiler::find_kind(findings, kind); \
  ASSERT_NE(var, nullptr) << "no " << (kind) << " finding";                              \
  ::ccprof::profiler::expect_catalog_fields(*var)
