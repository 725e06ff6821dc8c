#pragma once
// libbpf objects from user space: owning pointers for skeletons, ring buffers and
// links, and reading maps.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <cstring>
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

// The CPUs' sum of a per-CPU array's one element, a struct of u64 counters (the BPF
// objects' CCPROF_PERCPU_COUNTERS). All zero when the map cannot be read.
template <typename Counters>
Counters sum_percpu(int fd) {
  static_assert(sizeof(Counters) % sizeof(uint64_t) == 0, "a struct of u64 counters");
  Counters total{};
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0 || fd < 0) return total;
  std::vector<Counters> cpus(static_cast<size_t>(ncpu));
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, cpus.data()) != 0) return total;
  constexpr size_t kFields = sizeof(Counters) / sizeof(uint64_t);
  for (const Counters& c : cpus) {
    uint64_t fields[kFields], sum[kFields];
    std::memcpy(fields, &c, sizeof c);
    std::memcpy(sum, &total, sizeof total);
    for (size_t i = 0; i < kFields; ++i) sum[i] += fields[i];
    std::memcpy(&total, sum, sizeof total);
  }
  return total;
}

// Sets every CPU's copy of a per-CPU array's one element to zero.
template <typename Counters>
void zero_percpu(int fd) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0 || fd < 0) return;
  std::vector<Counters> cpus(static_cast<size_t>(ncpu));
  const uint32_t zero = 0;
  bpf_map_update_elem(fd, &zero, cpus.data(), BPF_ANY);
}

}  // namespace ccprof::agent
