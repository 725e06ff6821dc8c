#pragma once
// Reading BPF maps from user space.
#include <bpf/bpf.h>

namespace ccprof::agent {

// Calls fn(key, value) for every entry of a BPF hash map. An entry deleted while the
// map is walked is skipped (the kernel side may remove entries at any time).
template <typename Key, typename Value, typename Fn>
void for_each_map_entry(int fd, Fn fn) {
  Key key{}, next{};
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    Value value{};
    if (bpf_map_lookup_elem(fd, &key, &value) == 0) fn(key, value);
  }
}

}  // namespace ccprof::agent
