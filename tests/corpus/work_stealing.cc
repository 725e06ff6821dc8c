// Corpus: a fork-join task pool running parallel reductions (sum of squares over a
// range, split recursively into tasks of one grain each).
//   bad:   every worker pushes and pops its tasks through one global deque behind one
//          mutex: with ~2 queue operations per microsecond-sized task, the workers
//          spend their time waiting for that lock (lock contention).
//   fixed: a work-stealing pool: each worker has its own deque (with its own mutex),
//          pushes and pops at its back, and steals from the front of another
//          worker's deque only when its own is empty.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

namespace corpus {

struct Job;

struct Task {
  Job* job;
  uint32_t begin, end;
};

struct Job {
  const std::vector<uint32_t>* data;
  std::atomic<uint64_t> sum{0};
  std::atomic<uint32_t> pending_leaves{0};
};

constexpr uint32_t kGrain = 64;

// The pool's scheduling policy is a template parameter: GlobalQueue (bad) or
// StealingQueues (fixed); everything else is shared.
class GlobalQueue {
 public:
  explicit GlobalQueue(int /*workers*/) {}
  void push(int /*worker*/, const Task& t) {
    std::lock_guard<std::mutex> lock(mu_);  // PROBLEM: every push and pop of every worker takes this lock
    tasks_.push_back(t);
  }
  std::optional<Task> pop(int /*worker*/) {
    std::lock_guard<std::mutex> lock(mu_);  // PROBLEM: every push and pop of every worker takes this lock
    if (tasks_.empty()) return std::nullopt;
    Task t = tasks_.back();
    tasks_.pop_back();
    return t;
  }

 private:
  std::mutex mu_;
  std::deque<Task> tasks_;
};

class StealingQueues {
 public:
  explicit StealingQueues(int workers) : queues_(workers) {}
  void push(int worker, const Task& t) {
    WorkerQueue& q = queues_[worker];
    std::lock_guard<std::mutex> lock(q.mu);  // FIX: the worker's own deque
    q.tasks.push_back(t);
    q.size.store(q.tasks.size(), std::memory_order_relaxed);
  }
  std::optional<Task> pop(int worker) {
    if (auto t = take(queues_[worker], /*oldest=*/false)) return t;
    for (size_t i = 1; i < queues_.size(); ++i)  // own deque empty: steal the oldest task of another
      if (auto t = take(queues_[(worker + i) % queues_.size()], /*oldest=*/true)) return t;
    return std::nullopt;
  }

 private:
  struct alignas(64) WorkerQueue {
    std::mutex mu;
    std::deque<Task> tasks;
    std::atomic<size_t> size{0};  // tasks.size(), readable without the lock
  };
  // The owner takes its newest task (LIFO, still hot in its cache); a thief the oldest
  // (the largest range left, so it steals rarely). Neither locks an empty deque, and a
  // thief never waits for a deque's lock: it tries the next victim instead.
  static std::optional<Task> take(WorkerQueue& q, bool oldest) {
    if (q.size.load(std::memory_order_relaxed) == 0) return std::nullopt;
    std::unique_lock<std::mutex> lock(q.mu, std::defer_lock);
    if (!oldest)
      lock.lock();
    else if (!lock.try_lock())
      return std::nullopt;
    if (q.tasks.empty()) return std::nullopt;
    Task t = oldest ? q.tasks.front() : q.tasks.back();
    if (oldest)
      q.tasks.pop_front();
    else
      q.tasks.pop_back();
    q.size.store(q.tasks.size(), std::memory_order_relaxed);
    return t;
  }
  std::vector<WorkerQueue> queues_;
};

template <class Queues>
class ForkJoinPool {
 public:
  explicit ForkJoinPool(int workers) : queues_(workers) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { work(w); });
  }
  ~ForkJoinPool() {
    shutdown_.store(true);
    for (auto& t : threads_) t.join();
  }

  // Runs one reduction to completion; the caller (not a worker) waits for it.
  uint64_t sum_of_squares(const std::vector<uint32_t>& data) {
    Job job;
    job.data = &data;
    job.pending_leaves.store(static_cast<uint32_t>((data.size() + kGrain - 1) / kGrain));
    queues_.push(next_submit_++ % threads_.size(), Task{&job, 0, static_cast<uint32_t>(data.size())});
    for (uint32_t left = job.pending_leaves.load(); left != 0; left = job.pending_leaves.load())
      job.pending_leaves.wait(left);
    return job.sum.load();
  }

 private:
  void run(int worker, const Task& t) {
    if (t.end - t.begin > kGrain) {  // fork: the right half is pushed, the left half run now
      uint32_t mid = t.begin + (t.end - t.begin) / 2 / kGrain * kGrain;
      queues_.push(worker, Task{t.job, mid, t.end});
      run(worker, Task{t.job, t.begin, mid});
      return;
    }
    const std::vector<uint32_t>& data = *t.job->data;
    uint64_t sum = 0;
    for (uint32_t i = t.begin; i < t.end; ++i) sum += static_cast<uint64_t>(data[i]) * data[i] % 1000003;
    t.job->sum.fetch_add(sum, std::memory_order_relaxed);
    if (t.job->pending_leaves.fetch_sub(1) == 1) t.job->pending_leaves.notify_all();
  }

  // An idle worker yields, and after 64 empty rounds naps 50 us, as pools do before
  // parking, so idle workers do not keep the CPUs from the busy ones.
  void work(int worker) {
    int idle_rounds = 0;
    while (!shutdown_.load(std::memory_order_relaxed)) {
      if (auto t = queues_.pop(worker)) {
        run(worker, *t);
        idle_rounds = 0;
      } else if (++idle_rounds < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }

  Queues queues_;
  std::vector<std::thread> threads_;
  std::atomic<bool> shutdown_{false};
  size_t next_submit_ = 0;
};

template <class Queues>
uint64_t run_jobs(const Options& options, const std::vector<uint32_t>& data, uint64_t* jobs) {
  ForkJoinPool<Queues> pool(options.threads);
  uint64_t check = 0;
  while (!stop_requested()) {
    check += pool.sum_of_squares(data);
    ++*jobs;
  }
  return check;
}

}  // namespace corpus

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 4, 64);
  std::vector<uint32_t> data(1 << 18);
  XorShift64 rng(3);
  for (auto& d : data) d = static_cast<uint32_t>(rng.next());
  auto start = Clock::now();
  std::thread stopper([&] { run_for(options); });
  uint64_t jobs = 0;
  uint64_t check = options.bad() ? corpus::run_jobs<corpus::GlobalQueue>(options, data, &jobs)
                                 : corpus::run_jobs<corpus::StealingQueues>(options, data, &jobs);
  stopper.join();
  double elapsed = seconds_since(start);
  std::printf("variant=%s workers=%d jobs=%llu leaves=%llu check=%llx\n", options.variant_name(), options.threads,
              static_cast<unsigned long long>(jobs), static_cast<unsigned long long>(jobs * ((data.size() + corpus::kGrain - 1) / corpus::kGrain)),
              static_cast<unsigned long long>(check));
  print_throughput(static_cast<double>(jobs * data.size()), "elements", elapsed);
  return 0;
}
