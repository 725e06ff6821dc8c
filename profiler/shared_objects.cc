#include "profiler/shared_objects.h"

#include <algorithm>

namespace ccprof::profiler {

SharedObjects::SharedObjects(const model::Recording& rec) {
  std::map<Key, std::vector<View>> all;
  for (const auto& p : rec.processes) {
    uint64_t exe_base = 0;
    for (const auto& m : p.maps)
      if (m.path == p.exe && (exe_base == 0 || m.start < exe_base)) exe_base = m.start;
    for (const auto& m : p.maps) {
      // 's': MAP_SHARED. An inode names the object (a deleted /dev/zero for a shared
      // anonymous mapping, /dev/shm/NAME, memfd:NAME, SYSV0000...).
      if (m.perms.size() < 4 || m.perms[3] != 's' || m.inode == 0 || m.end <= m.start) continue;
      auto& views = all[{p.exe, exe_base, m.path, m.inode}];
      const View v{p.pid, m.start, m.end, m.offset};
      if (std::none_of(views.begin(), views.end(), [&](const View& o) {
            return o.pid == v.pid && o.start == v.start && o.end == v.end;
          }))
        views.push_back(v);
    }
  }
  for (auto& [key, views] : all) {
    std::set<uint32_t> pids;
    for (const auto& v : views) pids.insert(v.pid);
    if (pids.size() < 2) continue;
    std::sort(views.begin(), views.end(), [](const View& a, const View& b) {
      return a.pid != b.pid ? a.pid < b.pid : a.start < b.start;
    });
    auto it = objects_.emplace(key, std::move(views)).first;
    for (const auto& v : it->second) by_pid_[v.pid].push_back({v, &it->first});
  }
}

const SharedObjects::View* SharedObjects::view_of(uint32_t pid, uint64_t addr, const Key** key) const {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return nullptr;
  for (const auto& [v, k] : it->second)
    if (addr >= v.start && addr < v.end) {
      *key = k;
      return &v;
    }
  return nullptr;
}

SharedObjects::Address SharedObjects::canonical(uint32_t pid, uint64_t addr) const {
  const Key* key = nullptr;
  const View* mine = view_of(pid, addr, &key);
  if (!mine) return {pid, addr};
  const uint64_t object_offset = addr - mine->start + mine->offset;
  // The lowest pid whose view holds that byte (views are sorted by pid).
  for (const auto& v : objects_.at(*key))
    if (object_offset >= v.offset && object_offset < v.offset + (v.end - v.start))
      return {v.pid, v.start + (object_offset - v.offset)};
  return {pid, addr};
}

std::set<uint32_t> SharedObjects::processes(uint32_t pid, uint64_t addr) const {
  const Key* key = nullptr;
  if (!view_of(pid, addr, &key)) return {pid};
  std::set<uint32_t> out;
  for (const auto& v : objects_.at(*key)) out.insert(v.pid);
  return out;
}

}  // namespace ccprof::profiler
