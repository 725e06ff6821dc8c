#pragma once
// libbpf objects from user space: owning pointers for skeletons, ring buffers and
// links, and reading maps.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <memory>

namespace ccprof::agent {

// A deleter that calls a libbpf destroy function: std::unique_ptr<T, LibbpfDeleter<&T__destroy>>.
template <auto Destroy>
struct LibbpfDeleter {
  template <typename T>
  void operator()(T* p) const {
    Destroy(p);
  }
};
template <typename Skeleton, auto Destroy>
using SkeletonPtr = std::unique_ptr<Skeleton, LibbpfDeleter<Destroy>>;
using RingBufferPtr = std::unique_ptr<ring_buffer, LibbpfDeleter<&ring_buffer__free>>;
using LinkPtr = std::unique_ptr<bpf_link, LibbpfDeleter<&bpf_link__destroy>>;

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
