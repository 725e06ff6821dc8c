// Corpus: an in-memory key-value server: a listener thread hands batches of requests
// to a worker pool through a bounded queue; workers serve them from a sharded table
// and account each request in the server's statistics.
//   bad:   one ServerStats struct for the whole server, updated under one global
//          mutex on every request: every worker serialises on it (lock contention).
//   fixed: each worker accounts in its own cache-line-aligned stats slot, without a
//          lock; the slots are merged when the server stops.
// The request queue carries batches (as a server reading a socket buffer does), so
// its own lock is taken rarely in both variants.
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

namespace corpus {

struct Request {
  std::string key;
  bool is_put;
};
using RequestBatch = std::vector<Request>;

// A bounded FIFO of batches: the listener blocks when the workers fall behind.
class BatchQueue {
 public:
  explicit BatchQueue(size_t capacity) : capacity_(capacity) {}

  // Both notify after unlocking, so the woken thread does not block on mu_ at once.
  bool push(const RequestBatch* batch) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(batch);
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }
  const RequestBatch* pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return nullptr;
    const RequestBatch* batch = items_.front();
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return batch;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<const RequestBatch*> items_;
  size_t capacity_;
  bool closed_ = false;
};

// The table: 64 shards, each with its own lock and map (contention-free by design).
class ShardedTable {
 public:
  static constexpr int kShards = 64;
  void put(const std::string& key, std::string value) {
    Shard& s = shard(key);
    std::lock_guard<std::mutex> lock(s.mu);
    s.map[key] = std::move(value);
  }
  // Copies the value out (a server would write it to the socket).
  bool get(const std::string& key, std::string* value) {
    Shard& s = shard(key);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return false;
    *value = it->second;
    return true;
  }

 private:
  struct alignas(64) Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::string> map;
  };
  Shard& shard(const std::string& key) { return shards_[std::hash<std::string>{}(key) % kShards]; }
  Shard shards_[kShards];
};

// The server's statistics: request counts and the requests per key (the operator's
// hot-key report).
struct ServerStats {
  uint64_t gets = 0, puts = 0, hits = 0, misses = 0, bytes_out = 0;
  std::unordered_map<std::string, uint64_t> requests_by_key;
  void add(const ServerStats& o) {
    gets += o.gets;
    puts += o.puts;
    hits += o.hits;
    misses += o.misses;
    bytes_out += o.bytes_out;
    for (const auto& [key, n] : o.requests_by_key) requests_by_key[key] += n;
  }
};

// Where a worker accounts a request: bad, the one global struct under its mutex;
// fixed, the worker's own slot.
std::mutex g_stats_mutex;
ServerStats g_stats;
struct alignas(64) WorkerStats {  // FIX: per-worker stats on their own cache lines, no lock
  ServerStats stats;
};

class KvServer {
 public:
  KvServer(bool global_stats, int workers) : global_stats_(global_stats), worker_stats_(workers), queue_(16) {}

  void load(const std::vector<std::string>& keys) {
    for (size_t i = 0; i < keys.size(); i += 2) table_.put(keys[i], std::string(12, 'v'));
  }

  void start() {
    for (size_t w = 0; w < worker_stats_.size(); ++w) workers_.emplace_back([this, w] { serve(&worker_stats_[w]); });
  }
  bool submit(const RequestBatch* batch) { return queue_.push(batch); }
  void stop() {
    queue_.close();
    for (auto& t : workers_) t.join();
  }

  ServerStats stats() const {
    if (global_stats_) return g_stats;
    ServerStats total;
    for (const WorkerStats& w : worker_stats_) total.add(w.stats);
    return total;
  }

 private:
  static void account(ServerStats* s, const Request& r, bool hit, size_t bytes) {
    s->requests_by_key[r.key]++;
    if (r.is_put) {
      s->puts++;
    } else {
      s->gets++;
      if (hit) {
        s->hits++;
        s->bytes_out += bytes;
      } else {
        s->misses++;
      }
    }
  }

  void handle(const Request& r, WorkerStats* mine) {
    std::string value;
    bool hit = false;
    if (r.is_put) {
      table_.put(r.key, std::string(12, 'w'));
    } else {
      hit = table_.get(r.key, &value);
    }
    if (global_stats_) {
      std::lock_guard<std::mutex> lock(g_stats_mutex);  // PROBLEM: every request of every worker takes this lock
      account(&g_stats, r, hit, value.size());
    } else {
      account(&mine->stats, r, hit, value.size());  // FIX: the worker's own slot
    }
  }

  void serve(WorkerStats* mine) {
    while (const RequestBatch* batch = queue_.pop())
      for (const Request& r : *batch) handle(r, mine);
  }

  bool global_stats_;
  std::vector<WorkerStats> worker_stats_;
  BatchQueue queue_;
  ShardedTable table_;
  std::vector<std::thread> workers_;
};

}  // namespace corpus

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, 64);
  std::vector<std::string> keys;
  for (int i = 0; i < 20000; ++i) keys.push_back("user:" + std::to_string(i * 7919));
  // Requests are prepared once, as the listener's parsed socket buffers: 64 batches of
  // 1024 requests, 95% gets, half of them for keys that were never stored.
  std::vector<corpus::RequestBatch> batches(64);
  XorShift64 rng(7);
  for (auto& b : batches) {
    for (int i = 0; i < 1024; ++i) {
      b.push_back({keys[rng.next() % keys.size()], rng.next() % 20 == 0});
    }
  }

  corpus::KvServer server(options.bad(), options.threads);
  server.load(keys);
  server.start();
  auto start = Clock::now();
  std::thread stopper([&] { run_for(options); });
  uint64_t submitted = 0;
  // The listener: reading and parsing a socket buffer costs it ~20 us a batch.
  while (!stop_requested() && server.submit(&batches[submitted % batches.size()])) {
    ++submitted;
    cpu_work(std::chrono::microseconds(20), submitted);
  }
  server.stop();
  stopper.join();
  double elapsed = seconds_since(start);
  corpus::ServerStats s = server.stats();
  std::printf("variant=%s workers=%d requests=%llu hits=%llu misses=%llu\n", options.variant_name(), options.threads,
              static_cast<unsigned long long>(s.gets + s.puts), static_cast<unsigned long long>(s.hits),
              static_cast<unsigned long long>(s.misses));
  print_throughput(static_cast<double>(s.gets + s.puts), "requests", elapsed);
  return 0;
}
