#pragma once
// What this machine lets ccprof do, probed (never inferred from version numbers):
// used to choose the memory sampler's mode and printed by `ccprof doctor`.
#include <linux/perf_event.h>

#include <string>

#include "absl/status/status.h"
#include <vector>

namespace ccprof::agent {

// A memory-sampling event of a hardware PMU, ready for perf_event_open.
struct PmuMemoryEvent {
  std::string name;        // as libpfm4 encodes it ("MEM_TRANS_RETIRED:LOAD_LATENCY:ldlat=30", "ibs_op")
  std::string role;        // "loads" | "stores" | "ops" (AMD IBS: loads and stores in one)
  perf_event_attr attr{};  // type/config/config1 filled; sampling fields left to the caller
};

struct PmuCapability {
  bool libpfm_ok = false;
  std::string libpfm_error;              // pfm_initialize's error when !libpfm_ok
  std::vector<std::string> present;      // "perf (perf_events generic PMU)", ...
  std::string core_pmu;                  // the present core PMU's name, "" when none
  bool hardware_counters = false;        // perf_event_open of PERF_COUNT_HW_CPU_CYCLES works
  std::string hardware_error;            // why not ("No such file or directory": no PMU in this VM)
  std::vector<PmuMemoryEvent> memory_events;  // empty when PMU mode cannot run
  std::string why_no_memory_events;      // one line, "" when there are some
};

struct Capabilities {
  std::string kernel;                    // uname -r
  std::string arch;                      // uname -m
  unsigned online_cpus = 0;
  // privileges
  bool root = false;
  bool cap_bpf = false, cap_perfmon = false, cap_sys_admin = false;
  int perf_event_paranoid = 99;
  // BPF
  bool bpf_ok = false;                   // a map could be created
  std::string bpf_error;
  bool btf = false;                      // /sys/kernel/btf/vmlinux (CO-RE)
  bool bpf_perf_event_prog = false;      // the kernel knows BPF_PROG_TYPE_PERF_EVENT
  bool ringbuf = false;                  // BPF_MAP_TYPE_RINGBUF
  // tracepoints the collectors need, with whether each exists
  std::vector<std::pair<std::string, bool>> tracepoints;
  // software sampling (decode mode)
  bool cpu_clock_sampling = false;       // PERF_COUNT_SW_CPU_CLOCK per CPU opens
  std::string cpu_clock_error;
  PmuCapability pmu;
  // hardware watchpoints: accepted is not enough, the self-test must see them fire
  bool watchpoint_accepted = false;
  bool watchpoint_fires = false;
  std::string watchpoint_detail;
};

Capabilities probe_capabilities();
// The `ccprof doctor` text: what the machine can do and what each collector will use.
std::string format_doctor(const Capabilities& caps);
// Whether this process may load BPF programs: root, or CAP_BPF and CAP_PERFMON
// (CAP_SYS_ADMIN implies both). The error says what is missing.
absl::Status check_privileges();

// Whether a profile can be taken at all (BPF, tracepoints, privileges); `why` says
// what is missing when not.
bool can_profile(const Capabilities& caps, std::string* why);

// Memory sampler mode for a request ("auto", "decode", "pmu", "off"): returns
// "pmu", "decode" or "off", with the reason in `reason`.
std::string choose_memory_sampler_mode(const Capabilities& caps, const std::string& requested,
                                       std::string* reason);

// libpfm4's view only (a part of probe_capabilities, also used by PMU mode).
PmuCapability probe_pmu();

}  // namespace ccprof::agent
