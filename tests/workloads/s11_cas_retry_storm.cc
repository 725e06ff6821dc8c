// Scenario 11 — a lock-free (Treiber) stack under contention.
//
// Threads take a node from a free list, use it, and give it back: a pop and
// a push per operation, each a compare-and-swap loop on the stack head.
//   bad:   one global stack head g_head shared by all threads: the CASes
//          fail and retry while the head's cache line ping-pongs.
//   fixed: each thread has its own stack, each head in its own cache line
//          (the same CAS code, now uncontended; stealing from another
//          thread's stack would stay correct).
// The head is a node index plus a version tag packed into one 8-byte word,
// so a pop's CAS cannot succeed on a recycled head (no ABA).
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

constexpr int kMaxThreads = 64;
constexpr uint32_t kNodes = 1024;
constexpr uint32_t kNil = UINT32_MAX;

struct alignas(64) Node {  // one node per line: only the head is shared
  std::atomic<uint32_t> next;
  uint64_t payload;
};

struct TaggedHead {
  uint32_t index;  // top node, or kNil
  uint32_t tag;    // bumped on every change: the ABA guard
};
static_assert(std::atomic<TaggedHead>::is_always_lock_free);

Node g_nodes[kNodes];
std::atomic<TaggedHead> g_head{TaggedHead{kNil, 0}};  // bad: one head for all threads

struct alignas(64) LocalStack {  // fixed: one head per thread, own cache line
  std::atomic<TaggedHead> head{TaggedHead{kNil, 0}};
};
LocalStack g_local_stacks[kMaxThreads];

__attribute__((noinline)) void push_shared(uint32_t index, int64_t* retries) {
  TaggedHead old = g_head.load(std::memory_order_relaxed);
  for (;;) {
    g_nodes[index].next.store(old.index, std::memory_order_relaxed);
    TaggedHead desired{index, old.tag + 1};
    if (g_head.compare_exchange_weak(old, desired)) return;  // PROBLEM: every thread CASes the one head
    ++*retries;
  }
}

__attribute__((noinline)) uint32_t pop_shared(int64_t* retries) {
  TaggedHead old = g_head.load(std::memory_order_acquire);
  while (old.index != kNil) {
    uint32_t next = g_nodes[old.index].next.load(std::memory_order_relaxed);
    TaggedHead desired{next, old.tag + 1};
    if (g_head.compare_exchange_weak(old, desired)) return old.index;  // PROBLEM: retried whenever another thread won
    ++*retries;
  }
  return kNil;
}

__attribute__((noinline)) void push_local(LocalStack& stack, uint32_t index, int64_t* retries) {
  TaggedHead old = stack.head.load(std::memory_order_relaxed);
  for (;;) {
    g_nodes[index].next.store(old.index, std::memory_order_relaxed);
    TaggedHead desired{index, old.tag + 1};
    if (stack.head.compare_exchange_weak(old, desired)) return;  // FIX: a per-thread head, uncontended
    ++*retries;
  }
}

__attribute__((noinline)) uint32_t pop_local(LocalStack& stack, int64_t* retries) {
  TaggedHead old = stack.head.load(std::memory_order_acquire);
  while (old.index != kNil) {
    uint32_t next = g_nodes[old.index].next.load(std::memory_order_relaxed);
    TaggedHead desired{next, old.tag + 1};
    if (stack.head.compare_exchange_weak(old, desired)) return old.index;  // FIX: a per-thread head, uncontended
    ++*retries;
  }
  return kNil;
}

static void use_nodes(const Options& options, int thread_index, int64_t* ops, int64_t* retries) {
  LocalStack& own = g_local_stacks[thread_index];
  int64_t count = 0, failed_cas = 0;
  while (!stop_requested()) {
    for (int i = 0; i < 256; ++i) {
      uint32_t node = options.bad() ? pop_shared(&failed_cas) : pop_local(own, &failed_cas);
      if (node == kNil) continue;  // cannot happen: more nodes than threads
      g_nodes[node].payload = burn_cpu(g_nodes[node].payload, 2);
      if (options.bad())
        push_shared(node, &failed_cas);
      else
        push_local(own, node, &failed_cas);
      ++count;
    }
  }
  *ops = count;
  *retries = failed_cas;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, kMaxThreads);
  int64_t unused = 0;
  for (uint32_t i = 0; i < kNodes; ++i) {
    g_nodes[i].payload = i;
    if (options.bad())
      push_shared(i, &unused);
    else
      push_local(g_local_stacks[i * options.threads / kNodes], i, &unused);
  }

  std::vector<int64_t> ops(options.threads), retries(options.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < options.threads; ++i)
    threads.emplace_back(use_nodes, std::cref(options), i, &ops[i], &retries[i]);
  run_for(options);
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);

  int64_t total = 0, total_retries = 0;
  for (int i = 0; i < options.threads; ++i) {
    total += ops[i];
    total_retries += retries[i];
  }
  // Every node must still be on exactly one stack.
  uint32_t found = 0;
  auto count_stack = [&](const std::atomic<TaggedHead>& head) {
    for (uint32_t n = head.load().index; n != kNil && found <= kNodes; n = g_nodes[n].next.load()) ++found;
  };
  count_stack(g_head);
  for (int i = 0; i < options.threads; ++i) count_stack(g_local_stacks[i].head);
  std::printf("variant=%s threads=%d ops=%lld cas_retries_per_op=%.3f nodes_intact=%s\n",
              options.variant_name(), options.threads, static_cast<long long>(total),
              total ? static_cast<double>(total_retries) / total : 0.0, found == kNodes ? "yes" : "no");
  print_throughput(static_cast<double>(total), "ops", elapsed);
  return found == kNodes ? 0 : 1;
}
