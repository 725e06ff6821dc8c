#pragma once
// `ccprof diff`: two findings documents (before, after) -> which findings were fixed,
// improved, unchanged, regressed or new. Findings are matched by kind and subject (the
// lock, the cache line or the call site), never by address: addresses move between
// runs. The document it returns is diff.json (docs/diff-schema.md).
#include <string>

#include <nlohmann/json.hpp>

namespace ccprof::report {

// The subject a finding is matched by: "lock g_table_mutex", "cache line g_counters",
// "call site count_words (s01_lock_contention.cc)".
std::string finding_subject(const nlohmann::json& finding);

// `before_source`/`after_source` name where each document came from (shown, not read).
nlohmann::json diff_findings(const nlohmann::json& before, const nlohmann::json& after,
                             const std::string& before_source, const std::string& after_source);

// The terminal table: kind · subject · before · after · change · verdict.
std::string render_diff_table(const nlohmann::json& diff);

}  // namespace ccprof::report
