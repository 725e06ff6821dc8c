// A small load generator for measuring ccprof on a real multi-threaded server (issue 13:
// recording size and time to outputs with stacks unwound while profiling). N client
// threads send memcached text-protocol set/get pairs over 127.0.0.1, each on its own
// connection, for a given time, and print the requests per second.
// usage: memcached_load PORT THREADS SECONDS   (memcached -t 4 -p PORT -l 127.0.0.1)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<uint64_t> g_requests{0};

// Reads until the reply to one request ends ("STORED\r\n" or "END\r\n").
bool read_reply(int fd, const char* end_marker) {
  std::string got;
  char buf[4096];
  while (got.find(end_marker) == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return true;
}

void client(int port, int index, std::chrono::steady_clock::time_point end) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string value(100, 'v');
  uint64_t n = 0;
  while (std::chrono::steady_clock::now() < end) {
    // A few hot keys shared by all clients: the server's item locks are contended.
    const std::string key = "k" + std::to_string((n * 7 + index) % 16);
    std::string set = "set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    if (write(fd, set.data(), set.size()) != static_cast<ssize_t>(set.size()) || !read_reply(fd, "STORED\r\n")) break;
    std::string get = "get " + key + "\r\n";
    if (write(fd, get.data(), get.size()) != static_cast<ssize_t>(get.size()) || !read_reply(fd, "END\r\n")) break;
    n += 2;
  }
  g_requests += n;
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: memcached_load PORT THREADS SECONDS\n");
    return 2;
  }
  const int port = std::atoi(argv[1]), threads = std::atoi(argv[2]);
  const double seconds = std::atof(argv[3]);
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back(client, port, i, end);
  for (auto& t : ts) t.join();
  std::printf("%.0f requests/s\n", g_requests.load() / seconds);
  return 0;
}
