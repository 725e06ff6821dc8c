// Benchmark helper: attaches bench/bpf_floor.bpf.c's empty programs to the raw syscall
// tracepoints and holds them until stdin closes (bench.py "bpf" reads their run time
// with BPF_ENABLE_STATS while a workload runs). Needs root. Exit 1 with a message when
// the programs cannot be loaded or attached.
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "bpf_floor.skel.h"

int main() {
  bpf_floor_bpf* skel = bpf_floor_bpf__open_and_load();
  if (!skel) {
    std::fprintf(stderr, "bpf-floor: cannot load the BPF programs: %s\n", std::strerror(errno));
    return 1;
  }
  if (bpf_floor_bpf__attach(skel)) {
    std::fprintf(stderr, "bpf-floor: cannot attach the BPF programs: %s\n", std::strerror(errno));
    bpf_floor_bpf__destroy(skel);
    return 1;
  }
  std::printf("attached\n");
  std::fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  bpf_floor_bpf__destroy(skel);
  return 0;
}
