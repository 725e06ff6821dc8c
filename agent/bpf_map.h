#pragma once
// libbpf objects from user space: owning pointers for skeletons, ring buffers and
// links, and reading maps.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <memory>
#include <vector>

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

// The same for a per-CPU hash map: fn(key, values), one value per possible CPU.
template <typename Key, typename Value, typename Fn>
void for_each_percpu_map_entry(int fd, Fn fn) {
  static_assert(sizeof(Value) % 8 == 0, "the kernel lays per-CPU values out 8-byte aligned");
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return;
  std::vector<Value> values(static_cast<size_t>(ncpu));
  Key key{}, next{};
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, values.data()) == 0) fn(key, values);
  }
}

}  // namespace ccprof::agent
