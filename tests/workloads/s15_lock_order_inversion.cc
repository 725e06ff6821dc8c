// Scenario 15 — two mutexes taken in opposite orders by two threads (a latent deadlock).
//
// A "transfer" thread updates the accounts and appends to the audit log; an "audit"
// thread reads the log and checks the accounts. Each needs both mutexes at once.
//   bad:   transfer locks g_accounts_mutex then g_audit_mutex; audit locks
//          g_audit_mutex then g_accounts_mutex. It never deadlocks here only
//          because the two threads take turns (a turn flag hands the work over in
//          bursts): the day two of them overlap, each holds the lock the other
//          waits for, and both wait forever.
//   fixed: one global order: g_accounts_mutex before g_audit_mutex, everywhere.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

using namespace ccprof::workloads;

std::mutex g_accounts_mutex;
std::mutex g_audit_mutex;
int64_t g_balance[16];          // guarded by g_accounts_mutex
std::vector<int64_t> g_audit;   // guarded by g_audit_mutex

// Whose turn it is: the threads never run their critical sections at the same time,
// which is all that keeps the bad variant from deadlocking.
std::atomic<int> g_turn{0};
constexpr int kBurst = 200;  // sections per turn

__attribute__((noinline)) void transfer(int i, uint64_t* work) {
  std::lock_guard<std::mutex> accounts(g_accounts_mutex);
  std::lock_guard<std::mutex> audit(g_audit_mutex);  // accounts, then audit
  g_balance[i % 16] -= 1;
  g_balance[(i + 1) % 16] += 1;
  if (g_audit.size() > 4096) g_audit.clear();
  g_audit.push_back(i);
  *work = cpu_work(std::chrono::microseconds(2), *work);
}

__attribute__((noinline)) void audit_bad(int64_t* seen, uint64_t* work) {
  std::lock_guard<std::mutex> audit(g_audit_mutex);
  std::lock_guard<std::mutex> accounts(g_accounts_mutex);  // PROBLEM: audit, then accounts: the inverse order
  int64_t sum = 0;
  for (int64_t b : g_balance) sum += b;
  *seen += sum == 0 ? static_cast<int64_t>(g_audit.size() > 0) : 0;
  *work = cpu_work(std::chrono::microseconds(2), *work);
}

__attribute__((noinline)) void audit_fixed(int64_t* seen, uint64_t* work) {
  std::lock_guard<std::mutex> accounts(g_accounts_mutex);  // FIX: the same order as transfer()
  std::lock_guard<std::mutex> audit(g_audit_mutex);
  int64_t sum = 0;
  for (int64_t b : g_balance) sum += b;
  *seen += sum == 0 ? static_cast<int64_t>(g_audit.size() > 0) : 0;
  *work = cpu_work(std::chrono::microseconds(2), *work);
}

// True when it is `me`'s turn; false when the run is over (then the other thread may
// still be inside its burst: going on would be the deadlock). It spins: a sleeping
// wait would make the two threads look like an I/O-bound pool.
static bool wait_turn(int me) {
  for (uint32_t spins = 0; g_turn.load(std::memory_order_acquire) != me; ++spins) {
    if (stop_requested()) return false;
    if (spins % 1024 == 1023) std::this_thread::yield();  // on a busy machine the other may need this CPU
    __builtin_ia32_pause();
  }
  return true;
}

static void transfer_loop(int64_t* done) {
  uint64_t work = 1;
  int64_t n = 0;
  while (!stop_requested() && wait_turn(0)) {
    for (int k = 0; k < kBurst; ++k) transfer(static_cast<int>(n++), &work);
    g_turn.store(1, std::memory_order_release);
  }
  *done = n;
}

static void audit_loop(const Options& options, int64_t* done) {
  uint64_t work = 2;
  int64_t n = 0, seen = 0;
  while (!stop_requested() && wait_turn(1)) {
    for (int k = 0; k < kBurst; ++k, ++n) options.bad() ? audit_bad(&seen, &work) : audit_fixed(&seen, &work);
    g_turn.store(0, std::memory_order_release);
  }
  *done = n;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv, 2, 2);
  int64_t transfers = 0, audits = 0;
  auto start = Clock::now();
  std::thread t(transfer_loop, &transfers);
  std::thread a(audit_loop, std::cref(options), &audits);
  run_for(options);
  t.join();
  a.join();
  double elapsed = seconds_since(start);
  int64_t sum = 0;
  for (int64_t b : g_balance) sum += b;
  std::printf("variant=%s transfers=%lld audits=%lld balance=%lld\n", options.variant_name(),
              static_cast<long long>(transfers), static_cast<long long>(audits), static_cast<long long>(sum));
  print_throughput(static_cast<double>(transfers + audits), "sections", elapsed);
  return sum == 0 ? 0 : 1;
}
