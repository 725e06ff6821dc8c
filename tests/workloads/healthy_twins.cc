// Healthy twins: programs that look superficially like a problem ccprof diagnoses but
// are not one, so that no rule may fire on them (tests/e2e/healthy_test.py).
//   healthy-twins mmap-reader   2 threads read a 96 MiB file through mmap: RSS grows
//                               steadily, with file pages (nothing is queued).
//   healthy-twins cache-fill    a 64 MiB cache filled once (paced, as from a disk), then
//                               read by 2 threads: heap growth that stops, no hand-off.
//   healthy-twins idle-pool     8 workers wait on a condition variable; a task every
//                               50 ms: many threads, almost all idle and none contended.
//   healthy-twins bursty-queue  a producer pushes bursts of 50k items into a queue that
//                               a consumer drains between bursts: the queue empties.
// usage: healthy-twins CASE [--seconds=N]
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

namespace {

constexpr size_t kMiB = 1024 * 1024;
std::atomic<uint64_t> g_sink{0};  // results the compiler must keep

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// Reads a file through one shared read-only mapping, each thread its half, at a steady
// pace over the run: the resident set grows by the file pages touched.
__attribute__((noinline)) void read_mapped(const uint8_t* data, size_t begin, size_t end, double seconds) {
  const auto start = Clock::now();
  uint64_t sum = 0;
  for (size_t off = begin; off < end && !stop_requested(); off += 4096) {
    sum += data[off];
    // Paced: the reader processes what it reads (as a parser would).
    const double due = seconds * static_cast<double>(off - begin) / static_cast<double>(end - begin);
    while (seconds_since(start) < due && !stop_requested()) sum += burn_cpu(sum, 50);
  }
  g_sink += sum;
}

void mmap_reader(const Options& o) {
  char path[] = "/tmp/ccprof-healthy-mmap-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return perror("mkstemp");
  unlink(path);
  const size_t size = 96 * kMiB;
  std::vector<char> block(kMiB, 'x');
  for (size_t done = 0; done < size; done += block.size())
    if (write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) return perror("write");
  // The pages just written sit in the page cache, not in this process's RSS until mapped.
  auto* data = static_cast<const uint8_t*>(mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0));
  if (data == MAP_FAILED) return perror("mmap");
  std::thread a(read_mapped, data, 0, size / 2, o.seconds * 0.9);
  std::thread b(read_mapped, data, size / 2, size, o.seconds * 0.9);
  run_for(o);
  a.join();
  b.join();
  munmap(const_cast<uint8_t*>(data), size);
  close(fd);
}

// Fills a cache once at a steady pace (each entry computed, as if read from a disk),
// then serves lookups from it without locks: the heap grows, then stays.
__attribute__((noinline)) void fill_cache(std::unordered_map<uint64_t, std::string>& cache, double seconds) {
  const size_t entries = 64 * kMiB / 512;
  const auto start = Clock::now();
  for (size_t i = 0; i < entries; ++i) {
    cache.emplace(i, std::string(480, static_cast<char>('a' + i % 26)));
    const double due = seconds * static_cast<double>(i) / entries;
    while (seconds_since(start) < due) g_sink += burn_cpu(i, 20);
  }
}

__attribute__((noinline)) void read_cache(const std::unordered_map<uint64_t, std::string>* cache, int seed) {
  XorShift64 rng(seed);
  uint64_t sum = 0;
  while (!stop_requested()) {
    auto it = cache->find(rng.next() % cache->size());
    if (it != cache->end()) sum += static_cast<uint8_t>(it->second[0]);
  }
  g_sink += sum;
}

void cache_fill(const Options& o) {
  std::unordered_map<uint64_t, std::string> cache;
  std::thread stopper(run_for, o);
  fill_cache(cache, o.seconds * 0.4);
  std::thread a(read_cache, &cache, 1), b(read_cache, &cache, 2);
  a.join();
  b.join();
  stopper.join();
}

// A pool of workers that mostly sleep on their condition variable.
class IdlePool {
 public:
  explicit IdlePool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  ~IdlePool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  __attribute__((noinline)) void work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return done_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

void idle_pool(const Options& o) {
  IdlePool pool(8);
  const auto start = Clock::now();
  while (seconds_since(start) < o.seconds) {
    pool.submit([] { g_sink += burn_cpu(7, 2000); });
    sleep_s(0.05);
  }
}

// A queue filled in bursts and drained by its consumer between them. The producer
// pushes each burst in batches of 64 under one hold (and wakes the consumer once per
// batch): pushing item by item, the producer and the consumer on the 2-CPU VM sometimes
// convoyed on the mutex (1 run in ~10: 36k futex waits, 6.6% of their time, a true
// lock-contention finding), which is not the healthy queue this twin is.
void bursty_queue(const Options& o) {
  std::mutex mu;
  std::condition_variable not_empty;
  std::deque<std::vector<uint64_t>> queue;
  bool done = false;
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      not_empty.wait(lock, [&] { return done || !queue.empty(); });
      if (queue.empty()) return;
      auto item = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      g_sink += burn_cpu(item[0], 30);
      lock.lock();
    }
  });
  const auto start = Clock::now();
  uint64_t n = 0;
  while (seconds_since(start) < o.seconds) {
    for (int i = 0; i < 50000; i += 64) {
      {
        std::lock_guard<std::mutex> lock(mu);
        for (int k = 0; k < 64; ++k) queue.emplace_back(32, ++n);
      }
      not_empty.notify_one();
    }
    sleep_s(0.25);  // the next burst comes later; the consumer catches up meanwhile
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  not_empty.notify_one();
  consumer.join();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "";
  argv[1] = argv[0];  // the remaining flags are the common ones
  const Options o = parse_options(argc - 1, argv + 1, 1);
  if (which == "mmap-reader") mmap_reader(o);
  else if (which == "cache-fill") cache_fill(o);
  else if (which == "idle-pool") idle_pool(o);
  else if (which == "bursty-queue") bursty_queue(o);
  else {
    std::fprintf(stderr, "usage: %s mmap-reader|cache-fill|idle-pool|bursty-queue [--seconds=N]\n", argv[0]);
    return 2;
  }
  std::printf("%s done (%llu)\n", which.c_str(), static_cast<unsigned long long>(g_sink.load()));
  return 0;
}
