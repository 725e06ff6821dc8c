// Benchmark workload: futex waits and context switches at a controlled rate,
// each one counted by the program itself, so a profiler's count can be checked.
//
// --pairs=P pairs of threads hand a turn back and forth. Handoff n of a pair is
// signalled on futex word n % L of that pair (--locks=L distinct addresses:
// 1 = one hot lock, large = every wait on a "new" lock). The side that waits
// for its turn calls futex(FUTEX_WAIT_PRIVATE) directly and counts every call
// (whatever it returns), so `futex_waits` is exactly the number of wait
// syscalls made on the printed words. --rate=R paces the handoffs to R per
// second in total (0 = as fast as the machine goes); the achieved rate is
// printed, not assumed. --timestamps=PATH writes the CLOCK_MONOTONIC time (ns)
// at which each wait syscall was entered, one per line, in order per thread,
// then merged and sorted (for measuring when a profiler's probes went live).
//
// Prints:
//   futex_words=<first>-<last> waits=<n> handoffs=<n> nvcsw=<n> nivcsw=<n> elapsed_s=<s>
//   throughput=<waits/s> waits/s
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr uint32_t kUnset = 0xFFFFFFFFu;  // a word no handoff has written yet

struct alignas(64) Word {
  std::atomic<uint32_t> value{kUnset};
};

struct Config {
  double seconds = 2;
  double rate = 0;  // handoffs per second, all pairs together; 0 = unpaced
  int pairs = 1;
  int locks = 1;
  std::string timestamps_path;
};

std::atomic<bool> g_stop{false};
Word* g_words = nullptr;  // pairs * locks

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

void sleep_until_ns(uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1000000000ull), static_cast<long>(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

long futex_wait(std::atomic<uint32_t>* w, uint32_t expected) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

long futex_wake(std::atomic<uint32_t>* w, int n) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

struct SideResult {
  uint64_t waits = 0, handoffs = 0;
  std::vector<uint64_t> stamps;
};

// One side of a pair: performs handoffs side, side+2, side+4, ...
void run_side(const Config& cfg, int pair, int side, uint64_t start_ns, SideResult* out) {
  prctl(PR_SET_TIMERSLACK, 1);  // pacing wants microseconds, not the 50 us default slack
  Word* words = g_words + static_cast<size_t>(pair) * cfg.locks;
  double period_ns = cfg.rate > 0 ? 1e9 * cfg.pairs / cfg.rate : 0;
  bool record = !cfg.timestamps_path.empty();
  for (uint32_t n = side;; n += 2) {
    // Wait for turn n: word n % L holds n once the other side handed it over.
    std::atomic<uint32_t>* w = &words[n % cfg.locks].value;
    bool stopped = false;
    while (true) {
      if (g_stop.load()) { stopped = true; break; }
      uint32_t v = w->load();
      if (v == n) break;
      if (g_stop.load()) { stopped = true; break; }
      if (record) out->stamps.push_back(now_ns());
      futex_wait(w, v);
      ++out->waits;
    }
    if (stopped) return;
    if (period_ns > 0) {
      uint64_t due = start_ns + static_cast<uint64_t>(period_ns * n);
      if (now_ns() < due) sleep_until_ns(due);
    }
    std::atomic<uint32_t>* next = &words[(n + 1) % cfg.locks].value;
    next->store(n + 1);
    futex_wake(next, 1);
    ++out->handoffs;
  }
}

[[noreturn]] void usage(const char* prog, const std::string& msg) {
  std::fprintf(stderr, "%s: %s (usage: --seconds=N --rate=R --pairs=P --locks=L --timestamps=PATH)\n", prog,
               msg.c_str());
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto eq = a.find('=');
    if (a.substr(0, 2) != "--" || eq == std::string_view::npos) usage(argv[0], "bad argument '" + std::string(a) + "'");
    std::string key(a.substr(2, eq - 2)), val(a.substr(eq + 1));
    char* end = nullptr;
    if (key == "timestamps") {
      cfg.timestamps_path = val;
      continue;
    }
    double d = std::strtod(val.c_str(), &end);
    if (end == val.c_str() || *end) usage(argv[0], "--" + key + " needs a number, not '" + val + "'");
    if (key == "seconds" && d > 0 && d <= 3600) cfg.seconds = d;
    else if (key == "rate" && d >= 0) cfg.rate = d;
    else if (key == "pairs" && d >= 1 && d <= 512) cfg.pairs = static_cast<int>(d);
    else if (key == "locks" && d >= 1 && d <= 65536) cfg.locks = static_cast<int>(d);
    else usage(argv[0], "bad value for --" + key + ": '" + val + "'");
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg = parse(argc, argv);
  size_t nwords = static_cast<size_t>(cfg.pairs) * cfg.locks;
  g_words = new Word[nwords];
  for (int p = 0; p < cfg.pairs; ++p) g_words[static_cast<size_t>(p) * cfg.locks].value.store(0);  // side 0 starts

  std::vector<SideResult> results(2 * cfg.pairs);
  std::vector<std::thread> threads;
  uint64_t start = now_ns();
  for (int p = 0; p < cfg.pairs; ++p)
    for (int s = 0; s < 2; ++s) threads.emplace_back(run_side, std::cref(cfg), p, s, start, &results[2 * p + s]);
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.seconds));
  // Stop: raise the flag first, then change every word and wake its sleepers, so a
  // side either sees the flag or finds its word changed (EAGAIN) or is woken.
  g_stop.store(true);
  for (size_t i = 0; i < nwords; ++i) {
    g_words[i].value.store(kUnset - 1);
    futex_wake(&g_words[i].value, INT_MAX);
  }
  for (auto& t : threads) t.join();
  double elapsed = (now_ns() - start) / 1e9;

  uint64_t waits = 0, handoffs = 0;
  for (const auto& r : results) {
    waits += r.waits;
    handoffs += r.handoffs;
  }
  if (!cfg.timestamps_path.empty()) {
    std::vector<uint64_t> all;
    for (const auto& r : results) all.insert(all.end(), r.stamps.begin(), r.stamps.end());
    std::sort(all.begin(), all.end());
    FILE* f = std::fopen(cfg.timestamps_path.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "%s: cannot write %s: %s\n", argv[0], cfg.timestamps_path.c_str(), strerror(errno));
      return 1;
    }
    for (uint64_t t : all) std::fprintf(f, "%llu\n", static_cast<unsigned long long>(t));
    std::fclose(f);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("futex_words=%p-%p waits=%llu handoffs=%llu nvcsw=%ld nivcsw=%ld elapsed_s=%.3f\n",
              static_cast<void*>(&g_words[0].value), static_cast<void*>(&g_words[nwords - 1].value),
              static_cast<unsigned long long>(waits), static_cast<unsigned long long>(handoffs), ru.ru_nvcsw,
              ru.ru_nivcsw, elapsed);
  std::printf("throughput=%.1f waits/s\n", elapsed > 0 ? waits / elapsed : 0.0);
  return 0;
}
