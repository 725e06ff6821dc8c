#pragma once
// The report's tables, built from the index after the rules ran (rules never write
// them): locks, threads, stacks (flame graphs), timeline, samples, losses, memory,
// cache_lines and rss. Their JSON shapes are docs/findings-schema.md's.
#include <nlohmann/json.hpp>

#include "profiler/index.h"

namespace ccprof::profiler {

nlohmann::json build_tables(const Index& index);

// Names every frame of a stack root-first for flame graphs (inlined functions become
// frames of their own, outermost first).
std::vector<std::string> frame_names_root_first(const std::vector<Frame>& frames);

}  // namespace ccprof::profiler
