#include "agent/capabilities.h"
#include "agent/memory_sampler.h"
#include "agent/session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/hw_breakpoint.h>
#include <perfmon/pfmlib.h>
#include <perfmon/pfmlib_perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/perf_event.h"
#include "agent/tracefs.h"
#include "agent/unique_fd.h"

namespace ccprof::agent {
namespace {

bool has_cap(uint64_t eff, int cap) { return (eff >> cap) & 1; }

uint64_t effective_caps() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

// Hardware watchpoint self-test: watch a variable of our own, write it, and check that
// the counter moved. On some hypervisors the breakpoint is accepted and never fires
// (probe q6: count stays 0), so acceptance alone proves nothing.
void watchpoint_self_test(Capabilities& c) {
  static volatile int64_t watched;
  perf_event_attr a = user_event_attr(PERF_TYPE_BREAKPOINT, 0);
  a.bp_type = HW_BREAKPOINT_W;
  a.bp_addr = reinterpret_cast<uint64_t>(&watched);
  a.bp_len = HW_BREAKPOINT_LEN_8;
  UniqueFd fd(perf_event_open(&a, 0, -1));
  if (!fd.valid()) {
    c.watchpoint_detail = absl::StrCat("perf_event_open(PERF_TYPE_BREAKPOINT) failed: ", strerror(errno));
    return;
  }
  c.watchpoint_accepted = true;
  ioctl(fd.get(), PERF_EVENT_IOC_RESET, 0);
  ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0);
  constexpr int kWrites = 1000;
  for (int i = 0; i < kWrites; ++i) watched = i;
  ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0);
  int64_t count = 0;
  if (read(fd.get(), &count, sizeof count) != sizeof count) count = -1;
  c.watchpoint_fires = count > 0;
  c.watchpoint_detail = c.watchpoint_fires
                            ? absl::StrCat("fired ", count, " times for ", kWrites, " writes")
                            : absl::StrCat("accepted but counted ", count, " of ", kWrites,
                                           " writes: they never fire on this machine (hypervisor)");
}

bool encode_event(const std::string& name, perf_event_attr* attr) {
  *attr = perf_event_attr{};
  pfm_perf_encode_arg_t arg{};
  arg.size = sizeof arg;
  arg.attr = attr;
  return pfm_get_os_event_encoding(name.c_str(), PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg) == PFM_SUCCESS;
}

bool first_encodable(const std::vector<std::string>& names, const std::string& role, PmuCapability& p) {
  for (const auto& n : names) {
    PmuMemoryEvent e;
    if (!encode_event(n, &e.attr)) continue;
    e.name = n;
    e.role = role;
    p.memory_events.push_back(e);
    return true;
  }
  return false;
}

}  // namespace

PmuCapability probe_pmu() {
  PmuCapability p;
  // A hardware counter at all? In a VM without a virtual PMU this fails with ENOENT.
  perf_event_attr cyc = user_event_attr(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES);
  UniqueFd fd(perf_event_open(&cyc, 0, -1));
  p.hardware_counters = fd.valid();
  if (!fd.valid()) p.hardware_error = strerror(errno);

  int r = pfm_initialize();
  if (r != PFM_SUCCESS) {
    p.libpfm_error = pfm_strerror(r);
    p.why_no_memory_events = absl::StrCat("libpfm4 could not initialise: ", p.libpfm_error);
    return p;
  }
  p.libpfm_ok = true;
  int pmu;
  pfm_for_all_pmus(pmu) {
    pfm_pmu_info_t info{};
    info.size = sizeof info;
    if (pfm_get_pmu_info(static_cast<pfm_pmu_t>(pmu), &info) != PFM_SUCCESS || !info.is_present) continue;
    p.present.push_back(absl::StrCat(info.name, " (", info.desc ? info.desc : "", ")"));
    if (info.type == PFM_PMU_TYPE_CORE && p.core_pmu.empty()) p.core_pmu = info.name;
  }
  // AMD: IBS op sampling is its own perf PMU (loads and stores with data source).
  std::ifstream ibs("/sys/bus/event_source/devices/ibs_op/type");
  uint32_t ibs_type = 0;
  if (ibs >> ibs_type) {
    PmuMemoryEvent e;
    e.name = "ibs_op";
    e.role = "ops";
    e.attr.size = sizeof e.attr;
    e.attr.type = ibs_type;
    p.memory_events.push_back(e);
    return p;
  }
  if (p.core_pmu.empty()) {
    p.why_no_memory_events =
        p.hardware_counters ? "libpfm4 finds no core PMU it knows (only generic perf events)"
                            : absl::StrCat("no hardware PMU (cycles cannot be counted: ", p.hardware_error,
                                           "; a VM without a virtual PMU); libpfm4 sees only ",
                                           p.present.empty() ? "nothing" : absl::StrJoin(p.present, ", "));
    return p;
  }
  // Intel PEBS: load latency (ldlat 30 cycles: past L1/L2 hits, where HITMs are) and
  // precise stores; names differ by generation, the first one libpfm4 encodes wins.
  bool loads = first_encodable({"MEM_TRANS_RETIRED:LOAD_LATENCY:ldlat=30", "MEM_TRANS_RETIRED:LAT_ABOVE_THR:ldlat=30"},
                               "loads", p);
  bool stores = first_encodable(
      {"MEM_INST_RETIRED:ALL_STORES", "MEM_UOPS_RETIRED:ALL_STORES", "MEM_TRANS_RETIRED:PRECISE_STORE"}, "stores", p);
  if (!loads && !stores)
    p.why_no_memory_events = absl::StrCat("core PMU ", p.core_pmu, " has no PEBS load-latency or store event");
  return p;
}

Capabilities probe_capabilities() {
  Capabilities c;
  utsname u{};
  if (uname(&u) == 0) {
    c.kernel = u.release;
    c.arch = u.machine;
  }
  c.online_cpus = static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
  c.root = geteuid() == 0;
  uint64_t eff = effective_caps();
  c.cap_sys_admin = has_cap(eff, CAP_SYS_ADMIN);
  c.cap_bpf = has_cap(eff, 39 /* CAP_BPF */) || c.cap_sys_admin;
  c.cap_perfmon = has_cap(eff, 38 /* CAP_PERFMON */) || c.cap_sys_admin;
  {
    std::ifstream f("/proc/sys/kernel/perf_event_paranoid");
    f >> c.perf_event_paranoid;
  }
  UniqueFd m(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ccprof_probe", 4, 4, 1, nullptr));
  c.bpf_ok = m.valid();
  if (!c.bpf_ok) c.bpf_error = strerror(errno);
  c.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  c.bpf_perf_event_prog = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_PERF_EVENT, nullptr) == 1;
  c.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  (void)ensure_tracefs();
  for (auto [cat, ev] : std::vector<std::pair<const char*, const char*>>{{"sched", "sched_switch"},
                                                                         {"sched", "sched_wakeup"},
                                                                         {"sched", "sched_process_fork"},
                                                                         {"sched", "sched_process_exit"},
                                                                         {"raw_syscalls", "sys_enter"},
                                                                         {"raw_syscalls", "sys_exit"}})
    c.tracepoints.emplace_back(absl::StrCat(cat, ":", ev), tracepoint_exists(cat, ev));
  perf_event_attr clk = user_event_attr(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK);
  clk.sample_period = 1000000;
  UniqueFd cfd(perf_event_open(&clk, -1, 0));
  c.cpu_clock_sampling = cfd.valid();
  if (!cfd.valid()) c.cpu_clock_error = strerror(errno);
  c.pmu = probe_pmu();
  watchpoint_self_test(c);
  return c;
}

std::string choose_memory_sampler_mode(const Capabilities& c, const std::string& requested, std::string* reason) {
  const bool decode_ok = c.bpf_ok && c.bpf_perf_event_prog && c.ringbuf && c.btf && c.cpu_clock_sampling;
  const std::string decode_why =
      !c.bpf_ok ? absl::StrCat("BPF is unavailable (", c.bpf_error, ")")
      : !c.bpf_perf_event_prog ? "the kernel cannot run BPF on perf events"
      : !c.ringbuf ? "the kernel has no BPF ring buffer"
      : !c.btf ? "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
      : !c.cpu_clock_sampling ? absl::StrCat("cpu-clock sampling per CPU failed: ", c.cpu_clock_error)
      : "";
  const bool pmu_ok = !c.pmu.memory_events.empty();
  if (requested == "off") {
    *reason = "turned off (--sampler=off)";
    return "off";
  }
  if (requested == "pmu") {
    if (pmu_ok) {
      *reason = absl::StrCat("requested; PMU ", c.pmu.core_pmu.empty() ? "ibs_op" : c.pmu.core_pmu);
      return "pmu";
    }
    *reason = absl::StrCat("PMU mode requested but unavailable: ", c.pmu.why_no_memory_events);
    return "off";
  }
  if (requested == "decode") {
    if (decode_ok) {
      *reason = "requested (--sampler=decode)";
      return "decode";
    }
    *reason = absl::StrCat("decode mode requested but unavailable: ", decode_why);
    return "off";
  }
  if (pmu_ok) {
    *reason = absl::StrCat("hardware PMU ", c.pmu.core_pmu.empty() ? "with IBS" : c.pmu.core_pmu,
                           " has memory-sampling events");
    return "pmu";
  }
  if (decode_ok) {
    *reason = absl::StrCat(c.pmu.why_no_memory_events.empty() ? "no PMU memory events" : c.pmu.why_no_memory_events,
                           "; decoding the sampled instructions instead");
    return "decode";
  }
  *reason = absl::StrCat("no memory sampler can run: ", c.pmu.why_no_memory_events, "; ", decode_why);
  return "off";
}

namespace {

// The one rule on privileges: root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN implies both).
std::string missing_privileges(bool root, bool cap_bpf, bool cap_perfmon) {
  if (root || (cap_bpf && cap_perfmon)) return "";
  return absl::StrCat("run as root or grant", cap_bpf ? "" : " CAP_BPF", cap_perfmon ? "" : " CAP_PERFMON");
}

}  // namespace

absl::Status check_privileges() {
  const uint64_t eff = effective_caps();
  const bool admin = has_cap(eff, CAP_SYS_ADMIN);
  std::string missing = missing_privileges(geteuid() == 0, has_cap(eff, 39 /* CAP_BPF */) || admin,
                                           has_cap(eff, 38 /* CAP_PERFMON */) || admin);
  if (missing.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("ccprof cannot load its probes: ", missing, " (e.g. with sudo)"));
}

bool can_profile(const Capabilities& c, std::string* why) {
  std::vector<std::string> missing;
  if (std::string m = missing_privileges(c.root, c.cap_bpf, c.cap_perfmon); !m.empty())
    missing.push_back(absl::StrCat("privileges: ", m));
  if (!c.bpf_ok) missing.push_back(absl::StrCat("BPF maps cannot be created: ", c.bpf_error));
  if (!c.ringbuf) missing.push_back("the kernel has no BPF ring buffer (needs Linux 5.8+)");
  if (!c.btf) missing.push_back("the kernel has no BTF at /sys/kernel/btf/vmlinux (CO-RE needs it)");
  for (const auto& [tp, ok] : c.tracepoints)
    if (!ok && (tp.rfind("raw_syscalls:", 0) == 0 || tp == "sched:sched_process_fork" ||
                tp == "sched:sched_process_exit"))
      missing.push_back(absl::StrCat("tracepoint ", tp, " is missing"));
  if (missing.empty()) return true;
  if (why) *why = absl::StrJoin(missing, "; ");
  return false;
}

std::string format_doctor(const Capabilities& c) {
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  std::string s;
  absl::StrAppend(&s, "kernel        ", c.kernel, " (", c.arch, "), ", c.online_cpus, " CPUs online\n");
  absl::StrAppend(&s, "privileges    root=", yn(c.root), " CAP_BPF=", yn(c.cap_bpf), " CAP_PERFMON=", yn(c.cap_perfmon),
                  " CAP_SYS_ADMIN=", yn(c.cap_sys_admin), " perf_event_paranoid=", c.perf_event_paranoid, "\n");
  absl::StrAppend(&s, "BPF           ", c.bpf_ok ? "yes" : absl::StrCat("no (", c.bpf_error, ")"),
                  ", BTF ", yn(c.btf), ", ring buffer ", yn(c.ringbuf), ", BPF on perf events ",
                  yn(c.bpf_perf_event_prog), "\n");
  absl::StrAppend(&s, "tracepoints  ");
  for (const auto& [tp, ok] : c.tracepoints) absl::StrAppend(&s, " ", tp, ok ? "" : "(MISSING)");
  absl::StrAppend(&s, "\n");
  absl::StrAppend(&s, "cpu-clock     ",
                  c.cpu_clock_sampling ? "per-CPU sampling works" : absl::StrCat("cannot sample: ", c.cpu_clock_error),
                  "\n");
  const auto& p = c.pmu;
  absl::StrAppend(&s, "PMU           hardware counters: ",
                  p.hardware_counters ? "yes" : absl::StrCat("no (", p.hardware_error, ")"), "\n");
  absl::StrAppend(&s, "              libpfm4: ",
                  p.libpfm_ok ? absl::StrCat("present PMUs: ", p.present.empty() ? "none" : absl::StrJoin(p.present, ", "))
                              : absl::StrCat("failed: ", p.libpfm_error),
                  "\n");
  if (!p.core_pmu.empty()) absl::StrAppend(&s, "              core PMU model: ", p.core_pmu, "\n");
  if (p.memory_events.empty()) {
    absl::StrAppend(&s, "              memory/HITM events: none: ", p.why_no_memory_events, "\n");
  } else {
    for (const auto& e : p.memory_events) absl::StrAppend(&s, "              memory event (", e.role, "): ", e.name, "\n");
  }
  absl::StrAppend(&s, "watchpoints   ",
                  c.watchpoint_fires ? "fire" : (c.watchpoint_accepted ? "accepted but DO NOT fire" : "unavailable"),
                  " (", c.watchpoint_detail, ")\n");
  std::string why;
  bool ok = can_profile(c, &why);
  std::string reason;
  std::string mode = choose_memory_sampler_mode(c, "auto", &reason);
  absl::StrAppend(&s, "\ncollectors\n");
  absl::StrAppend(&s, "  futex (locks)          ",
                  ok ? "raw tracepoints sys_enter/sys_exit (each futex syscall traced once: the sched collector's "
                       "programs hand it over with a tail call)"
                     : "unavailable",
                  "\n");
  bool sched_ok = true;
  for (const auto& [tp, present] : c.tracepoints)
    if (tp.rfind("sched:", 0) == 0 || tp.rfind("raw_syscalls:", 0) == 0) sched_ok = sched_ok && present;
  absl::StrAppend(&s, "  sched (threads, I/O)   ", ok && sched_ok ? "tracepoints sched:* and raw_syscalls:*" : "unavailable",
                  "\n");
  absl::StrAppend(&s, "  memory-access sampler  ", mode, ": ", reason, "\n");
  if (mode == "decode")
    absl::StrAppend(&s, "                         ",
                    sched_tick_handler_address()
                        ? "sampling on a 499 Hz timer per CPU; --sampler-clock tick samples on the scheduler tick "
                          "instead (its handler is in /proc/kallsyms)"
                        : "sampling on a 499 Hz timer per CPU (--sampler-clock tick cannot be used: the scheduler "
                          "tick's handler is not in /proc/kallsyms)",
                    "\n                         ",
                    absl::StrFormat("CPU budget %g%% of the CPUs (%g%% continuous; --sampler-budget): over it the rate "
                                    "is halved; each timer interrupt is estimated at %g us (%s)",
                                    kDefaultSamplerBudget * 100, kContinuousSamplerBudget * 100,
                                    timer_interrupt_ns_estimate() / 1000,
                                    timer_interrupt_ns_estimate() == kInterruptNsVm ? "a virtual machine: each is a VM exit"
                                                                                    : "no hypervisor flag"),
                    "\n");
  absl::StrAppend(&s, "  watchpoints            ", c.watchpoint_fires ? "usable" : "not used (they do not fire here)", "\n");
  absl::StrAppend(&s, "\nmodes (--mode)\n  default                every collector at its full rate\n"
                  "  continuous             the always-on mode (`ccprof serve` runs in it); it gives up:\n");
  for (const std::string& g : profile_mode(true).gives_up) absl::StrAppend(&s, "                         - ", g, "\n");
  absl::StrAppend(&s, "\n", ok ? "ccprof can profile on this machine.\n" : absl::StrCat("ccprof cannot profile: ", why, "\n"));
  return s;
}

}  // namespace ccprof::agent
