// Benchmark helper: what each step of ccprof's BPF programs costs here (bench/bpf_ops.bpf.c).
// Loads one program per step on raw sys_enter (each does its step four times, for this
// process only), makes `--syscalls=N` getppid() calls with BPF_ENABLE_STATS on, and prints
// one JSON object: the empty program's average and each step's cost in ns. Needs root.
// Exit 1 with a message when the programs cannot be loaded or attached.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bpf_ops.skel.h"

namespace {

struct Key16 {
  uint64_t a, b;
};

int fail(const char* what) {
  std::fprintf(stderr, "bpf-ops: %s: %s\n", what, std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  long syscalls = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--syscalls=", 11) == 0) {
      syscalls = std::atol(argv[i] + 11);
    } else {
      std::fprintf(stderr, "usage: bpf-ops [--syscalls=N]\n");
      return 2;
    }
  }
  if (syscalls <= 0) {
    std::fprintf(stderr, "bpf-ops: --syscalls must be positive\n");
    return 2;
  }
  bpf_ops_bpf* skel = bpf_ops_bpf__open();
  if (!skel) return fail("cannot open the BPF object");
  const uint32_t self = static_cast<uint32_t>(getpid());
  skel->rodata->target = self;
  if (bpf_ops_bpf__load(skel)) {
    bpf_ops_bpf__destroy(skel);
    return fail("cannot load the BPF programs");
  }
  // One entry in each map, found by every lookup.
  uint32_t zero = 0;
  int tail = bpf_program__fd(skel->progs.ops_tail_target);
  uint8_t one = 1;
  Key16 key{self, 0x7fff1234}, value{};
  std::vector<Key16> per_cpu(libbpf_num_possible_cpus());
  if (bpf_map_update_elem(bpf_map__fd(skel->maps.jump), &zero, &tail, BPF_ANY) ||
      bpf_map_update_elem(bpf_map__fd(skel->maps.hash4), &self, &one, BPF_ANY) ||
      bpf_map_update_elem(bpf_map__fd(skel->maps.hash16), &key, &value, BPF_ANY) ||
      bpf_map_update_elem(bpf_map__fd(skel->maps.lru16), &key, &value, BPF_ANY) ||
      bpf_map_update_elem(bpf_map__fd(skel->maps.percpu_hash16), &key, per_cpu.data(), BPF_ANY)) {
    bpf_ops_bpf__destroy(skel);
    return fail("cannot fill the maps");
  }
  std::vector<bpf_link*> links;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    if (prog == skel->progs.ops_tail_target) continue;  // reached through the jump table only
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      for (bpf_link* l : links) bpf_link__destroy(l);
      bpf_ops_bpf__destroy(skel);
      return fail(bpf_program__name(prog));
    }
    links.push_back(link);
  }
  int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats < 0) {
    for (bpf_link* l : links) bpf_link__destroy(l);
    bpf_ops_bpf__destroy(skel);
    return fail("BPF_ENABLE_STATS refused");
  }
  for (long i = 0; i < syscalls; ++i) syscall(SYS_getppid);
  close(stats);
  for (bpf_link* l : links) bpf_link__destroy(l);

  auto average = [](bpf_program* p) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) || info.run_cnt == 0) return -1.0;
    return static_cast<double>(info.run_time_ns) / static_cast<double>(info.run_cnt);
  };
  const double none = average(skel->progs.ops_none);
  std::string out = "{\"syscalls\": " + std::to_string(syscalls) + ", \"empty_program_avg_ns\": ";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", none);
  out += buf;
  out += ", \"ns_each\": {";
  bool first = true;
  bpf_object__for_each_program(prog, skel->obj) {
    if (prog == skel->progs.ops_none || prog == skel->progs.ops_tail_target) continue;
    double avg = average(prog);
    if (avg < 0 || none < 0) continue;
    const std::string name = bpf_program__name(prog);
    const double each = (avg - none) / (name == "ops_tail_call" ? 1 : 4);
    std::snprintf(buf, sizeof buf, "%.1f", each);
    out += (first ? "\"" : ", \"") + name.substr(4) + "\": " + buf;
    first = false;
  }
  out += "}}";
  std::printf("%s\n", out.c_str());
  bpf_ops_bpf__destroy(skel);
  return 0;
}
