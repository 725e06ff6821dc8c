// The target of the secret-canary test (secret_canary_test.py): a program that keeps a
// secret where real servers keep theirs. It reads it from its environment (an API
// token), copies it into a heap buffer (a session key), and in its hot loop copies the
// heap buffer into a request buffer on its stack, then takes a contended lock: every
// futex wait's stack copy and many timer samples hold the secret's bytes.
// usage: secret_canary SECONDS   (the secret in $CCPROF_CANARY_SECRET)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace {

std::mutex g_lock;
unsigned long g_total = 0;  // guarded by g_lock
const char* g_heap_secret = nullptr;

__attribute__((noinline)) unsigned long checksum(const char* p, size_t n) {
  unsigned long h = 1469598103934665603ul;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ul;
  return h;
}

__attribute__((noinline)) void handle_requests(std::chrono::steady_clock::time_point end) {
  while (std::chrono::steady_clock::now() < end) {
    char request[256];
    std::strncpy(request, g_heap_secret, sizeof request - 1);  // the secret, on this frame
    request[sizeof request - 1] = 0;
    asm volatile("" : : "r"(request) : "memory");  // the copy stays on the stack
    const unsigned long h = checksum(request, std::strlen(request));
    std::lock_guard<std::mutex> guard(g_lock);
    for (int i = 0; i < 2000; ++i) g_total += h >> (i & 7);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* secret = std::getenv("CCPROF_CANARY_SECRET");
  if (!secret || argc < 2) {
    std::fprintf(stderr, "usage: CCPROF_CANARY_SECRET=... secret_canary SECONDS\n");
    return 2;
  }
  char* heap = static_cast<char*>(std::malloc(std::strlen(secret) + 1));
  std::strcpy(heap, secret);
  g_heap_secret = heap;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(std::atof(argv[1]) * 1000));
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(handle_requests, end);
  handle_requests(end);  // the main thread too: its stack also holds the environment
  for (auto& t : threads) t.join();
  std::printf("total %lu\n", g_total);
  std::free(heap);
  return 0;
}
