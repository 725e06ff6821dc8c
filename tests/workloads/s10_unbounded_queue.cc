// Scenario 10 — no back-pressure: an unbounded queue between a fast
// producer and a slow consumer.
//
// The producer reads 1 KiB records (~5 us each); the consumer processes them
// (~40 us each), so it can never keep up.
//   bad:   the queue is unbounded: the producer never blocks and ~150 MiB/s
//          of records pile up in memory. For the machine's sake the producer
//          stops producing once kMemoryCap bytes are queued.
//   fixed: the queue holds at most kCapacity records; the producer blocks on
//          g_space_available when it is full and runs at the consumer's pace.
// Both variants consume at the same rate: the unbounded queue buys no
// throughput, only memory.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>

#include "common.h"

using namespace ccprof::workloads;
using namespace std::chrono_literals;

constexpr size_t kRecordBytes = 1024;
constexpr size_t kCapacity = 1024;                // fixed: bounded queue
constexpr size_t kMemoryCap = 300ull << 20;       // bad: safety stop, not a fix
constexpr auto kProduceTime = 5us;
constexpr auto kConsumeTime = 40us;

struct Record {
  uint64_t sequence;
  unsigned char payload[kRecordBytes - sizeof(uint64_t)];
};

std::mutex g_queue_mutex;
std::condition_variable g_records_available;
std::condition_variable g_space_available;
std::queue<std::unique_ptr<Record>> g_record_queue;  // guarded by g_queue_mutex
bool g_producer_done = false;                        // guarded by g_queue_mutex

__attribute__((noinline)) std::unique_ptr<Record> read_record(uint64_t sequence) {
  auto record = std::make_unique<Record>();
  record->sequence = sequence;
  uint64_t parsed = cpu_work(kProduceTime, sequence);
  std::memset(record->payload, static_cast<int>(parsed), sizeof record->payload);  // touches the memory
  return record;
}

// bad: returns false once the safety cap is reached.
__attribute__((noinline)) bool enqueue_unbounded(std::unique_ptr<Record> record) {
  std::lock_guard<std::mutex> lock(g_queue_mutex);
  if (g_record_queue.size() * sizeof(Record) >= kMemoryCap) return false;
  g_record_queue.push(std::move(record));  // PROBLEM: unbounded queue, the producer never waits
  g_records_available.notify_one();
  return true;
}

__attribute__((noinline)) void enqueue_bounded(std::unique_ptr<Record> record) {
  std::unique_lock<std::mutex> lock(g_queue_mutex);
  g_space_available.wait(lock, [] { return g_record_queue.size() < kCapacity || stop_requested(); });  // FIX: back-pressure
  g_record_queue.push(std::move(record));
  g_records_available.notify_one();
}

static void produce(const Options& options, int64_t* produced, bool* capped) {
  uint64_t sequence = 0;
  while (!stop_requested()) {
    auto record = read_record(sequence);
    if (options.bad()) {
      if (!enqueue_unbounded(std::move(record))) {
        *capped = true;
        break;
      }
    } else {
      enqueue_bounded(std::move(record));
    }
    ++sequence;
  }
  *produced = static_cast<int64_t>(sequence);
  std::lock_guard<std::mutex> lock(g_queue_mutex);
  g_producer_done = true;
  g_records_available.notify_all();
}

__attribute__((noinline)) uint64_t process_record(const Record& record) {
  uint64_t sum = record.sequence;
  for (size_t i = 0; i < sizeof record.payload; i += 64) sum += record.payload[i];
  return cpu_work(kConsumeTime, sum);
}

static void consume(int64_t* consumed, size_t* peak_queued) {
  int64_t count = 0;
  size_t peak = 0;
  while (!stop_requested()) {
    std::unique_ptr<Record> record;
    {
      std::unique_lock<std::mutex> lock(g_queue_mutex);
      g_records_available.wait(lock, [] { return !g_record_queue.empty() || g_producer_done || stop_requested(); });
      if (g_record_queue.empty()) {
        if (g_producer_done) {  // capped: keep consuming until the run ends
          lock.unlock();
          std::this_thread::sleep_for(1ms);
        }
        continue;
      }
      peak = std::max(peak, g_record_queue.size());
      record = std::move(g_record_queue.front());
      g_record_queue.pop();
    }
    g_space_available.notify_one();
    process_record(*record);
    ++count;
  }
  *consumed = count;
  *peak_queued = peak;
}

static long peak_rss_kib() {
  FILE* status = std::fopen("/proc/self/status", "r");
  if (!status) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, status))
    if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  std::fclose(status);
  return kib;
}

int main(int argc, char** argv) {
  // Always one producer and one consumer; --threads is accepted and ignored.
  Options options = parse_options(argc, argv, 2);
  int64_t produced = 0, consumed = 0;
  size_t peak_queued = 0;
  bool capped = false;
  auto start = Clock::now();
  std::thread consumer(consume, &consumed, &peak_queued);
  std::thread producer(produce, std::cref(options), &produced, &capped);
  run_for(options);
  {
    std::lock_guard<std::mutex> lock(g_queue_mutex);  // wake whoever is blocked
    g_space_available.notify_all();
    g_records_available.notify_all();
  }
  producer.join();
  consumer.join();
  double elapsed = seconds_since(start);

  std::printf("variant=%s produced=%lld consumed=%lld peak_queued_records=%zu "
              "peak_queued_mib=%.1f peak_rss_kib=%ld capped=%s\n",
              options.variant_name(), static_cast<long long>(produced),
              static_cast<long long>(consumed), peak_queued,
              peak_queued * sizeof(Record) / 1048576.0, peak_rss_kib(), capped ? "yes" : "no");
  print_throughput(static_cast<double>(consumed), "records", elapsed);
  return 0;
}
