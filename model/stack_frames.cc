#include "model/stack_frames.h"

#include "model/recording.h"

namespace ccprof::model {

size_t StackFramesTable::Hash::operator()(const StackFrames& f) const {
  // FNV-1a over the addresses; equal lists differ rarely in the other fields.
  uint64_t h = 1469598103934665603ull ^ f.activation ^ (f.complete ? 0x9e3779b97f4a7c15ull : 0);
  for (uint64_t pc : f.pcs) h = (h ^ pc) * 1099511628211ull;
  return static_cast<size_t>(h);
}

int32_t StackFramesTable::intern(Recording& rec, StackFrames frames) {
  for (; seen_ < rec.stack_frames.size(); ++seen_)
    index_.emplace(rec.stack_frames[seen_], static_cast<int32_t>(seen_));
  auto it = index_.find(frames);
  if (it != index_.end()) return it->second;
  const auto i = static_cast<int32_t>(rec.stack_frames.size());
  index_.emplace(frames, i);
  rec.stack_frames.push_back(std::move(frames));
  seen_ = rec.stack_frames.size();
  return i;
}

}  // namespace ccprof::model
