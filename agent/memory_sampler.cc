#include "agent/memory_sampler.h"
#include "agent/bpf_map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/perf_event.h"
#include "agent/proc.h"
#include "agent/unique_fd.h"
#include "bpf/sample.h"
#include "model/pmu_record.h"
#include "sample.skel.h"
#include "spdlog/spdlog.h"

// Overhead: see kDefaultMemorySampleHz (memory_sampler.h). The BPF program is ~1 us per
// sample; a sample costs the target ~20-40 us of CPU in all on the 2-CPU VM, on a timer
// or on the tick alike, most of it the agent's own work per sample (drain, decode, trim).

namespace ccprof::agent {
namespace {

using model::Recording;

std::vector<int> online_cpus() {
  std::vector<int> cpus;
  std::ifstream f("/sys/devices/system/cpu/online");
  std::string text;
  if (std::getline(f, text)) {
    for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
      std::vector<std::string> r = absl::StrSplit(part, '-');
      int a = 0, b = 0;
      if (!absl::SimpleAtoi(r[0], &a)) continue;
      b = a;
      if (r.size() > 1 && !absl::SimpleAtoi(r[1], &b)) continue;
      for (int c = a; c <= b; ++c) cpus.push_back(c);
    }
  }
  if (cpus.empty())
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); ++c) cpus.push_back(static_cast<int>(c));
  return cpus;
}


uint32_t effective_hz(const MemorySamplerOptions& o, bool pmu = false) {
  return o.frequency_hz ? o.frequency_hz : pmu ? kDefaultPmuSampleHz : kDefaultMemorySampleHz;
}

}  // namespace

uint64_t sched_tick_handler_address() {
  std::ifstream ks("/proc/kallsyms");
  std::string line;
  while (std::getline(ks, line)) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 3 || (f[2] != "tick_nohz_handler" && f[2] != "tick_sched_timer")) continue;
    uint64_t addr = 0;
    if (absl::SimpleHexAtoi(f[0], &addr) && addr) return addr;
  }
  return 0;
}

namespace {

void write_section(Recording& rec, const std::string& mode, const std::string& reason, uint32_t hz,
                   const std::vector<std::string>& events, uint64_t period_ns = 0) {
  rec.memory_sampler.mode = mode;
  rec.memory_sampler.reason = reason;
  rec.memory_sampler.frequency_hz = hz;
  rec.memory_sampler.period_ns = mode != "decode" ? 0 : period_ns ? period_ns : hz ? 1000000000ull / hz : 0;
  rec.memory_sampler.events = events;
  rec.memory_sampler.requested_hz = hz;
}

// ---- decode mode -------------------------------------------------------------------


class DecodeSampler : public Collector {
 public:
  DecodeSampler(const MemorySamplerOptions& opts, std::string reason) : opts_(opts), reason_(std::move(reason)) {}
  const char* name() const override { return "memory-sampler"; }

  absl::Status start(const SharedMaps& shared) override {
    // The scheduler's tick when asked for and it can be found; otherwise, or where the
    // kernel refuses the tick program, a cpu-clock timer of its own.
    tick_handler_ = opts_.clock == "tick" ? sched_tick_handler_address() : 0;
    if (tick_handler_) {
      absl::Status s = start_sampling(shared);
      if (s.ok()) return s;
      spdlog::debug("memory sampler: cannot sample on the scheduler tick ({}); sampling on a timer",
                    std::string(s.message()));
      links_.clear();
      rb_.reset();
      skel_.reset();
      tick_handler_ = 0;
    }
    return start_sampling(shared);
  }

  void drain(Recording& rec) override {
    rec_ = &rec;
    if (!rb_) return;
    const double t0 = thread_cpu_s();
    // The drain's CPU counts toward the sampler's budget only when it took samples (not
    // the agent's wake-ups).
    if (ring_buffer__consume(rb_.get()) > 0) own_cpu_s_ += thread_cpu_s() - t0;
  }

  // Keeps the sampler under its CPU budget (agent/sampler_budget.h): once a second,
  // what the second before cost; over budget two seconds in a row, half the rate. Not
  // on the first second (the agent's first samples of a module load its DWARF).
  void pace(uint64_t now, double sample_cpu_s) override {
    if (!skel_) return;
    // The reduction's count starts again with each window (`ccprof serve`).
    reduce_total_s_ += sample_cpu_s >= last_reduce_s_ ? sample_cpu_s - last_reduce_s_ : sample_cpu_s;
    last_reduce_s_ = sample_cpu_s;
    const double agent_s = own_cpu_s_ + reduce_total_s_;
    if (interval_start_ && now - interval_start_ < kPaceIntervalNs) return;
    const auto c = sum_percpu<sample_counters>(bpf_map__fd(skel_->maps.counters));
    if (!interval_start_) {
      begin_interval(now, c, agent_s);
      if (!started_ns_) started_ns_ = now;
      return;
    }
    SamplerCost cost;
    cost.interval_s = (now - interval_start_) / 1e9;
    cost.cpus = cpus_;
    cost.fires = c.samples - interval_counters_.samples;
    cost.samples = c.target - interval_counters_.target;
    cost.bpf_s = (c.bpf_ns - interval_counters_.bpf_ns) / 1e9;
    cost.agent_s = agent_s - interval_agent_s_;
    cost.interrupt_ns = interrupt_ns_;
    window_cost_.interval_s += cost.interval_s;
    window_cost_.fires += cost.fires;
    window_cost_.samples += cost.samples;
    window_cost_.bpf_s += cost.bpf_s;
    window_cost_.agent_s += cost.agent_s;
    last_share_ = cost.share();
    last_drain_share_ = cost.drain_share();
    spdlog::trace("memory sampler: {:.2f} s: {} samples, {} firings, {:.2f}% of the CPUs (agent {:.1f} ms, BPF {:.1f} ms, "
                  "interrupts {:.1f} ms estimated)",
                  cost.interval_s, cost.samples, cost.fires, cost.share() * 100, cost.agent_s * 1e3, cost.bpf_s * 1e3,
                  cost.interrupt_s() * 1e3);
    const bool warmed_up = interval_start_ - started_ns_ >= kPaceIntervalNs;
    begin_interval(now, c, agent_s);
    // Two seconds over in a row: one second's cost can be a one-off (the agent reading a
    // module's DWARF at its first sample there).
    const std::string why = warmed_up ? over_budget(cost, opts_.budget) : "";
    const bool again = !why.empty() && over_last_;
    over_last_ = !why.empty();
    if (again && level_ < max_level_) {
      set_level(level_ + 1, now, cost.share(), why);
      over_last_ = false;
    }
  }

  // The window's samples, thinned to the lowest rate the window used: every sample
  // then stands for the same CPU time (rec.memory_sampler.period_ns).
  void settle(Recording& rec) override {
    if (levels_.size() == rec.memory_samples.size() && level_ > 0) {
      std::vector<uint32_t> cpus;
      cpus.reserve(rec.memory_samples.size());
      for (const auto& m : rec.memory_samples) cpus.push_back(m.cpu);
      const std::vector<bool> keep = thin_to_level(levels_, cpus, static_cast<uint8_t>(level_));
      size_t out = 0;
      for (size_t i = 0; i < rec.memory_samples.size(); ++i)
        if (keep[i]) rec.memory_samples[out++] = std::move(rec.memory_samples[i]);
      if (const size_t thinned = rec.memory_samples.size() - out) {
        rec.losses["sampler.thinned_to_one_rate"] += thinned;
        spdlog::debug("memory sampler: {} samples taken before the rate was lowered thinned to {} Hz", thinned,
                      hz_at(level_));
      }
      rec.memory_samples.resize(out);
    } else if (levels_.size() != rec.memory_samples.size()) {
      spdlog::debug("memory sampler: {} samples but {} rate levels: not thinned", rec.memory_samples.size(),
                    levels_.size());
    }
    levels_.clear();
    rate_changes_.clear();
    window_cost_ = SamplerCost{};
    // Far under budget over the window's last second: the next window (`ccprof serve`)
    // samples at twice the rate, up to the rate asked for.
    if (skel_ && !links_.empty() && level_ > min_level_ && last_share_ <= opts_.budget / 4 &&
        last_drain_share_ < kDrainThreadLimit / 4)
      set_level(level_ - 1, monotonic_ns(), last_share_, "far under budget");
  }

  // The kernel's counters, as the part since the last cut, and the sampler's section.
  void hand_over_counters(Recording& rec) {
    const auto c = sum_percpu<sample_counters>(bpf_map__fd(skel_->maps.counters));
    rec.losses["sampler.ringbuf_drops"] += part_("ringbuf_drops", c.ringbuf_drops);
    rec.losses["sampler.kernel_mode_samples"] += part_("kernel_mode", c.kernel_mode);
    rec.losses["sampler.stack_window_failed"] += part_("stack_window_failed", c.stack_window_failed);
    write_section(rec, "decode", reason_, hz_at(level_), {tick_handler_ ? "sched-tick" : "cpu-clock"},
                  period_at(level_));
    model::MemorySamplerSection& ms = rec.memory_sampler;
    ms.requested_hz = hz_at(0);
    ms.budget = opts_.budget;
    ms.rate_changes.clear();
    for (auto [at_ns, ch] : rate_changes_) {
      ch.at_s = at_ns > rec.start_ns ? (at_ns - rec.start_ns) / 1e9 : 0;
      ms.rate_changes.push_back(ch);
    }
    SamplerCost window = window_cost_;
    window.cpus = cpus_;
    window.interrupt_ns = interrupt_ns_;
    ms.fires = window.fires;
    ms.bpf_s = window.bpf_s;
    ms.agent_s = window.agent_s;
    ms.interrupt_ns = interrupt_ns_;
    ms.interrupt_s = window.interrupt_s();
    ms.cost_window_s = window.interval_s;
    ms.cost_share = window.share();  // the share the rate decisions use, over the sampled CPUs
    ms.target_samples = part_("target", c.target);
    ms.all_samples = part_("samples", c.samples);
  }

  // Sampling goes on; the counters are handed over as the part since the last cut.
  void cut(Recording& rec) override {
    drain(rec);
    hand_over_counters(rec);
  }

  void finish(Recording& rec) override {
    links_.clear();  // stop sampling first, then take what is left
    drain(rec);
    hand_over_counters(rec);
    rb_.reset();
    fds_.clear();
    skel_.reset();
  }

  uint64_t events() const override { return samples_; }
  uint64_t drops() const override { return skel_ ? sum_percpu<sample_counters>(bpf_map__fd(skel_->maps.counters)).ringbuf_drops : 0; }

 private:
  // On the tick when tick_handler_ is set, else on one cpu-clock event per online CPU.
  absl::Status start_sampling(const SharedMaps& shared) {
    if (auto s = open_skeleton(skel_, &sample_bpf__open, shared, "memory sampler"); !s.ok()) return s;
    bpf_map__set_max_entries(skel_->maps.samples, opts_.ring_bytes);
    skel_->rodata->tick_handler = tick_handler_;
    bpf_program__set_autoload(tick_handler_ ? skel_->progs.on_cpu_clock : skel_->progs.on_tick, false);
    if (auto s = load_skeleton(skel_, &sample_bpf__load, "memory sampler"); !s.ok()) return s;
    if (tick_handler_) {
      bpf_link* link = bpf_program__attach(skel_->progs.on_tick);
      if (!link)
        return absl::InternalError(
            absl::StrCat("memory sampler: cannot attach to hrtimer_expire_entry: ", strerror(errno)));
      links_.emplace_back(link);
    }
    const uint32_t hz = effective_hz(opts_);
    for (int cpu : tick_handler_ ? std::vector<int>{} : online_cpus()) {
      // Kernel-mode samples carry no user access to decode: user_event_attr leaves them out.
      perf_event_attr a = user_event_attr(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK);
      a.sample_period = 1000000000ull / hz;  // cpu-clock periods are nanoseconds
      a.exclude_idle = 1;
      UniqueFd fd(perf_event_open(&a, -1, cpu));
      if (!fd.valid())
        return absl::InternalError(absl::StrCat("memory sampler: cannot open cpu-clock on CPU ", cpu, ": ",
                                                strerror(errno), errno == EACCES ? " (needs CAP_PERFMON)" : ""));
      bpf_link* link = bpf_program__attach_perf_event(skel_->progs.on_cpu_clock, fd.get());
      if (!link)
        return absl::InternalError(
            absl::StrCat("memory sampler: cannot attach to cpu-clock on CPU ", cpu, ": ", strerror(errno)));
      links_.emplace_back(link);
      fds_.push_back(std::move(fd));  // the link does not own the perf fd
    }
    cpus_ = static_cast<uint32_t>(std::max<size_t>(1, online_cpus().size()));
    // The interrupt is ccprof's own only on a timer; the tick fires anyway.
    interrupt_ns_ = tick_handler_ ? 0 : timer_interrupt_ns_estimate();
    max_level_ = max_rate_level(tick_handler_ ? tick_hz() : hz);
    rb_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.samples), on_sample, this, nullptr));
    if (!rb_) return absl::InternalError(absl::StrCat("memory sampler: cannot map the ring buffer: ", strerror(errno)));
    if (tick_handler_)
      spdlog::debug("memory sampler: decode mode on the scheduler tick");
    else
      spdlog::debug("memory sampler: decode mode, {} Hz on {} CPUs", hz, fds_.size());
    return absl::OkStatus();
  }

  // The tick's rate: the shortest step between two expiries any CPU saw (the tick
  // period); before two ticks on one CPU, the last rate known, else the common HZ.
  uint32_t tick_hz() {
    const int ncpu = libbpf_num_possible_cpus();
    if (skel_ && ncpu > 0) {
      std::vector<tick_period> cpus(static_cast<size_t>(ncpu));
      const uint32_t zero = 0;
      int64_t step = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tick_periods), &zero, cpus.data()) == 0)
        for (const tick_period& c : cpus)
          if (c.min_step_ns > 0 && (!step || c.min_step_ns < step)) step = c.min_step_ns;
      if (step > 0) tick_hz_ = static_cast<uint32_t>((1e9 + step / 2) / step);
    }
    return tick_hz_;
  }

  // The rate and the CPU time per sample at a level (the rate asked for / 2^level).
  uint32_t base_hz() { return tick_handler_ ? tick_hz() : effective_hz(opts_); }
  uint32_t hz_at(uint32_t level) { return std::max<uint32_t>(1, (base_hz() + (1u << level) / 2) >> level); }
  uint64_t period_at(uint32_t level) {
    const uint32_t hz = base_hz();
    return hz ? (1'000'000'000ull / hz) << level : 0;
  }

  void begin_interval(uint64_t now, const sample_counters& c, double agent_s) {
    interval_start_ = now;
    interval_counters_ = c;
    interval_agent_s_ = agent_s;
  }

  // The level is set before the timers' periods change (bpf/sample.bpf.c, rate_level).
  void set_level(uint32_t level, uint64_t now, double share, const std::string& why) {
    const uint32_t from = hz_at(level_);
    skel_->bss->rate_level = level;
    if (!tick_handler_) {
      uint64_t period = period_at(level);
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (ioctl(fds_[i].get(), PERF_EVENT_IOC_PERIOD, &period) == 0) continue;
        // A timer left at the old rate would take samples labelled with the new one:
        // every timer back to the old period, and the rate stays where it is.
        spdlog::warn("memory sampler: cannot change the timer's period ({}): its rate stays at {} Hz",
                     strerror(errno), from);
        uint64_t old = period_at(level_);
        for (size_t j = 0; j < i; ++j) ioctl(fds_[j].get(), PERF_EVENT_IOC_PERIOD, &old);
        skel_->bss->rate_level = level_;
        max_level_ = min_level_ = level_;
        return;
      }
    }
    level_ = level;
    model::SamplerRateChange ch;
    ch.hz = hz_at(level);
    ch.share = share;
    ch.why = why;
    rate_changes_.emplace_back(now, ch);
    spdlog::debug("memory sampler: {} (the sampler's share of the CPUs {:.2f}%, budget {:.2f}%): {} -> {} Hz per CPU",
                  why, share * 100, opts_.budget * 100, from, ch.hz);
  }

  static int on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<DecodeSampler*>(ctx);
    if (size < sizeof(sample_event)) return 0;
    const auto* e = static_cast<const sample_event*>(data);
    model::MemorySample m;
    m.pid = e->tgid;
    m.tid = e->tid;
    m.cpu = e->cpu;
    m.time_ns = e->time_ns;
    for (int i = 0; i < SAMPLE_NUM_REGS; ++i) m.regs[i] = e->regs[i];
    m.fsbase = e->fsbase;
    if (e->sp_window_len)
      m.stack_windows.push_back({e->sp_window_addr, {e->sp_window, e->sp_window + e->sp_window_len}});
    if (e->bp_window_len)
      m.stack_windows.push_back({e->bp_window_addr, {e->bp_window, e->bp_window + e->bp_window_len}});
    // The frame-pointer chain's levels, as 16-byte windows where the windows above do
    // not already hold them (rbp at most ~180 bytes above rsp: small frames).
    for (int i = 0; i < SAMPLE_FRAME_LEVELS; ++i) {
      const uint64_t at = e->frame_addr[i];
      if (!at) break;
      const bool held = std::any_of(m.stack_windows.begin(), m.stack_windows.end(), [at](const auto& w) {
        return at >= w.addr && at - w.addr + 16 <= w.bytes.size();
      });
      const auto* bytes = reinterpret_cast<const uint8_t*>(e->frame[i]);
      if (!held) m.stack_windows.push_back({at, {bytes, bytes + 16}});
    }
    self->rec_->memory_samples.push_back(std::move(m));
    self->levels_.push_back(static_cast<uint8_t>(std::min<uint32_t>(e->level, 15)));
    ++self->samples_;
    return 0;
  }

  MemorySamplerOptions opts_;
  std::string reason_;
  SkeletonPtr<sample_bpf, &sample_bpf__destroy> skel_;
  std::vector<LinkPtr> links_;
  std::vector<UniqueFd> fds_;
  RingBufferPtr rb_;
  Recording* rec_ = nullptr;
  uint64_t samples_ = 0;
  SinceLastCut<std::string> part_;
  uint64_t tick_handler_ = 0;  // the tick hrtimer's handler when sampling on the tick
  uint32_t tick_hz_ = kCommonTickHz;

  // The CPU budget (agent/sampler_budget.h).
  static constexpr uint64_t kPaceIntervalNs = 1'000'000'000;
  uint32_t cpus_ = 1, level_ = 0, min_level_ = 0, max_level_ = 0;
  double interrupt_ns_ = 0;
  double own_cpu_s_ = 0;  // the drain thread's CPU in ring_buffer__consume
  double reduce_total_s_ = 0, last_reduce_s_ = 0;  // its CPU trimming the samples' stack windows
  uint64_t started_ns_ = 0, interval_start_ = 0;
  sample_counters interval_counters_{};
  double interval_agent_s_ = 0, last_share_ = 0, last_drain_share_ = 0;
  bool over_last_ = false;  // the interval before was over budget
  SamplerCost window_cost_;                       // summed over the window's intervals
  std::vector<uint8_t> levels_;                   // per sample of the window, in order
  std::vector<std::pair<uint64_t, model::SamplerRateChange>> rate_changes_;  // at CLOCK_MONOTONIC ns
};

// ---- PMU mode ----------------------------------------------------------------------

constexpr uint64_t kPmuSampleType = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR |
                                    PERF_SAMPLE_CPU | PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC;
constexpr size_t kPmuRingPages = 64;  // data pages per event, a power of two

// One perf event on one CPU with its mmap'ed ring.
struct PmuStream {
  UniqueFd fd;
  void* base = nullptr;
  size_t map_len = 0;
  PmuStream() = default;
  PmuStream(PmuStream&& o) noexcept : fd(std::move(o.fd)), base(std::exchange(o.base, nullptr)), map_len(o.map_len) {}
  ~PmuStream() {
    if (base) munmap(base, map_len);
  }
};

class PmuSampler : public Collector {
 public:
  PmuSampler(const MemorySamplerOptions& opts, std::string reason, std::vector<PmuMemoryEvent> events)
      : opts_(opts), reason_(std::move(reason)), events_(std::move(events)) {}
  const char* name() const override { return "memory-sampler"; }

  absl::Status start(const SharedMaps& shared) override {
    tgids_fd_ = shared.tgids_fd;
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    for (const auto& ev : events_) {
      for (int cpu : online_cpus()) {
        perf_event_attr a = ev.attr;
        a.size = sizeof a;
        a.sample_type = kPmuSampleType;
        a.freq = 1;
        a.sample_freq = effective_hz(opts_, /*pmu=*/true);
        a.precise_ip = ev.role == "ops" ? 0 : 2;  // PEBS: the exact instruction and address
        a.exclude_kernel = 1;
        a.exclude_hv = 1;
        a.use_clockid = 1;
        a.clockid = CLOCK_MONOTONIC;  // the clock of bpf_ktime_get_ns and of the Recording
        a.wakeup_events = 0;
        a.disabled = 1;
        PmuStream s;
        s.fd.reset(perf_event_open(&a, -1, cpu));
        if (!s.fd.valid())
          return absl::InternalError(absl::StrCat("memory sampler (PMU): cannot open ", ev.name, " on CPU ", cpu,
                                                  ": ", strerror(errno)));
        s.map_len = (1 + kPmuRingPages) * page_;
        s.base = mmap(nullptr, s.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd.get(), 0);
        if (s.base == MAP_FAILED) {
          s.base = nullptr;
          return absl::InternalError(absl::StrCat("memory sampler (PMU): cannot map the ring of ", ev.name, ": ",
                                                  strerror(errno)));
        }
        streams_.push_back(std::move(s));
      }
    }
    for (auto& s : streams_) ioctl(s.fd.get(), PERF_EVENT_IOC_ENABLE, 0);
    return absl::OkStatus();
  }

  void drain(Recording& rec) override {
    for (auto& s : streams_) drain_stream(s, rec);
  }

  void finish(Recording& rec) override {
    for (auto& s : streams_) ioctl(s.fd.get(), PERF_EVENT_IOC_DISABLE, 0);
    cut(rec);
    streams_.clear();
  }

  // Sampling goes on; the loss counts start again from zero for the next window.
  void cut(Recording& rec) override {
    drain(rec);
    rec.losses["sampler.pmu_lost_records"] += std::exchange(lost_, 0);
    rec.losses["sampler.pmu_unparsed_records"] += std::exchange(unparsed_, 0);
    std::vector<std::string> names;
    for (const auto& e : events_) names.push_back(e.name);
    write_section(rec, "pmu", reason_, effective_hz(opts_, /*pmu=*/true), names);
  }

  uint64_t events() const override { return samples_; }
  uint64_t drops() const override { return lost_; }

 private:
  bool is_target(uint32_t pid) {
    auto it = target_cache_.find(pid);
    if (it != target_cache_.end()) return it->second;
    uint8_t v = 0;
    bool yes = bpf_map_lookup_elem(tgids_fd_, &pid, &v) == 0;
    // Only positive answers are cached: a child may join the target set later.
    if (yes) target_cache_[pid] = true;
    return yes;
  }

  void drain_stream(PmuStream& s, Recording& rec) {
    auto* meta = static_cast<perf_event_mmap_page*>(s.base);
    const uint8_t* data = static_cast<const uint8_t*>(s.base) + page_;
    const uint64_t size = kPmuRingPages * page_;
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = meta->data_tail;
    std::vector<uint8_t> buf;
    while (tail < head) {
      perf_event_header h;
      for (size_t i = 0; i < sizeof h; ++i) reinterpret_cast<uint8_t*>(&h)[i] = data[(tail + i) % size];
      if (h.size < sizeof h) break;
      buf.resize(h.size);
      for (size_t i = 0; i < h.size; ++i) buf[i] = data[(tail + i) % size];
      if (h.type == PERF_RECORD_SAMPLE) {
        auto ps = model::parse_sample_record(buf.data(), buf.size(), kPmuSampleType);
        if (!ps.ok()) {
          ++unparsed_;
        } else if (is_target(ps->pid)) {
          model::MemorySample m;
          m.pid = ps->pid;
          m.tid = ps->tid;
          m.cpu = ps->cpu;
          m.time_ns = ps->time;
          m.regs[model::kRip] = ps->ip;
          m.data_addr = ps->addr;
          m.data_src = ps->data_src;
          m.weight = static_cast<uint32_t>(ps->weight);
          m.pmu = true;
          rec.memory_samples.push_back(std::move(m));
          ++samples_;
        }
      } else if (h.type == PERF_RECORD_LOST && h.size >= sizeof h + 16) {
        uint64_t lost = 0;
        memcpy(&lost, buf.data() + sizeof h + 8, 8);
        lost_ += lost;
      }
      tail += h.size;
    }
    __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
  }

  MemorySamplerOptions opts_;
  std::string reason_;
  std::vector<PmuMemoryEvent> events_;
  std::vector<PmuStream> streams_;
  int tgids_fd_ = -1;
  size_t page_ = 4096;
  std::unordered_map<uint32_t, bool> target_cache_;
  uint64_t samples_ = 0, lost_ = 0, unparsed_ = 0;
};

// "auto" that chose PMU: falls back to decode when the PMU events do not open.
class AutoSampler : public Collector {
 public:
  AutoSampler(const MemorySamplerOptions& opts, std::string reason, std::vector<PmuMemoryEvent> events)
      : opts_(opts), active_(std::make_unique<PmuSampler>(opts, reason, std::move(events))) {}
  const char* name() const override { return "memory-sampler"; }
  absl::Status start(const SharedMaps& shared) override {
    absl::Status s = active_->start(shared);
    if (s.ok()) return s;
    spdlog::info("memory sampler: PMU mode failed ({}); using decode mode", std::string(s.message()));
    active_ = std::make_unique<DecodeSampler>(
        opts_, absl::StrCat("PMU mode failed to start (", s.message(), "); decoding sampled instructions instead"));
    return active_->start(shared);
  }
  void drain(Recording& rec) override { active_->drain(rec); }
  void finish(Recording& rec) override { active_->finish(rec); }
  void cut(Recording& rec) override { active_->cut(rec); }
  void pace(uint64_t now_ns, double sample_cpu_s) override { active_->pace(now_ns, sample_cpu_s); }
  void settle(Recording& rec) override { active_->settle(rec); }
  uint64_t events() const override { return active_->events(); }
  uint64_t drops() const override { return active_->drops(); }

 private:
  MemorySamplerOptions opts_;
  std::unique_ptr<Collector> active_;
};

}  // namespace

std::string resolve_memory_sampler_mode(const MemorySamplerOptions& opts, const Capabilities* caps,
                                        std::string* reason) {
  if (caps) return choose_memory_sampler_mode(*caps, opts.mode, reason);
  Capabilities c = probe_capabilities();
  return choose_memory_sampler_mode(c, opts.mode, reason);
}

std::unique_ptr<Collector> make_memory_sampler(const MemorySamplerOptions& opts) {
  std::string reason;
  Capabilities caps;
  std::string mode;
  if (opts.mode == "decode") {
    mode = "decode";
    reason = "requested (--sampler=decode)";
  } else {
    caps = probe_capabilities();
    mode = choose_memory_sampler_mode(caps, opts.mode, &reason);
  }
  if (mode == "pmu" && opts.mode == "auto") return std::make_unique<AutoSampler>(opts, reason, caps.pmu.memory_events);
  if (mode == "pmu") return std::make_unique<PmuSampler>(opts, reason, caps.pmu.memory_events);
  if (mode == "decode") return std::make_unique<DecodeSampler>(opts, reason);
  return nullptr;
}

}  // namespace ccprof::agent
