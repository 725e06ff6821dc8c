#!/usr/bin/env python3
"""ccprof benchmark: what ccprof costs the target, side by side with perf, and how much it can take.

    python3 bench/bench.py BUILD_DIR [--quick] [--output PATH] [--rounds N] [--seconds S]
                                     [--only overhead,capacity,analysis,attach,bpf,server]
                                     [--overhead-workloads cpu-bound,s13-lock-held-across-io,...]

Measures, always with `ccprof run` / `ccprof attach` at default settings:
  overhead   each workload's own printed throughput (`throughput=<n>`) unprofiled, under
             ccprof, under `perf record -e cpu-clock -g` and `--call-graph dwarf`; the modes
             run in a shuffled order inside each round and every ratio compares a profiled
             run with the unprofiled run of the same round (median and spread over rounds).
  capacity   bench/futex-storm at increasing futex-wait rates: the highest rate with zero
             drops, and beyond it that every wait the target made is accounted for
             (target's own count == kernel totals; kernel totals == events + counted drops).
  analysis   for a 10 s profile of a busy target: time from the target's exit to ccprof's
             exit (outputs written), with the phases from `ccprof -v`; ccprof's peak RSS.
  attach     time from starting `ccprof attach` to the futex probes being live, from the
             target's own timestamp of each wait and the number of waits ccprof counted.
  bpf        BPF program run time per program (BPF_ENABLE_STATS while ccprof runs).
  server     a real server on 127.0.0.1 under load (memcached -t 4 with tests/memcached_load;
             MariaDB under sysbench oltp_read_write), `ccprof attach --duration 10` and 60:
             recording MB per minute, ccprof's peak RSS and CPU, window end -> outputs written.
             The server and its load generator each run in a session of their own, as a
             service manager starts a daemon (setsid) and as clients on other hosts are:
             with the kernel's autogroup (or a service's cgroup), ccprof then competes with
             the server as one group, not with each of its threads. One more MariaDB 60 s
             window runs with everything in the benchmark's session, the worst case.

Prints one table and writes the same figures as JSON (bench/results/<date>-<host>.json by
default). `--quick` (CI) runs everything once, briefly: it proves the benchmark works and
asserts nothing about timings; it fails only when ccprof itself fails to run.
Needs root (exit 77 otherwise, which ctest reports as skipped).
"""
import argparse
import ctypes
import datetime
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BUDGET_LOSS_PCT = 3.0
GOAL_LOSS_PCT = 2.0
CONTINUOUS_LOSS_PCT = 1.0     # the always-on mode (--mode continuous)
BPF_NS_PER_FUTEX_SYSCALL = 300
BUDGET_POST_EXIT_S = 2.0
BUDGET_RSS_MIB = 300.0
BUDGET_ATTACH_S = 1.0

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

THROUGHPUT_RE = re.compile(r"^throughput=([0-9.eE+-]+)", re.M)
STORM_RE = re.compile(r"futex_words=(0x[0-9a-f]+)-(0x[0-9a-f]+) waits=(\d+) handoffs=(\d+) "
                      r"nvcsw=(\d+) nivcsw=(\d+) elapsed_s=([0-9.]+)")
# Counters that mean "an event was lost", as opposed to sampled-by-design (rate limits).
DROP_RE = re.compile(r"^(futex|sched|sampler)\..*(dropped|drops|map_full|_lost)")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now():
    return time.monotonic()


# ---------------------------------------------------------------- running things

class Run:
    """One child process, with stderr lines time-stamped as they arrive."""

    def __init__(self, argv, cwd=None):
        self.argv = argv
        self.t_start = now()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
        self.stderr_lines = []  # (monotonic time, line)
        self.stdout_lines = []  # (monotonic time, line)
        self._err_t = threading.Thread(target=self._read_err, daemon=True)
        self._out_t = threading.Thread(target=self._read_out, daemon=True)
        self._err_t.start()
        self._out_t.start()
        self.rusage = None
        self.rc = None
        self.t_end = None

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr_lines.append((now(), line.decode(errors="replace").rstrip("\n")))

    def _read_out(self):
        for line in self.proc.stdout:
            self.stdout_lines.append((now(), line.decode(errors="replace")))

    def running(self):
        """Reaps the child (keeping its rusage) once it has exited; never use Popen.poll()."""
        if self.rc is not None:
            return False
        pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
        if pid != self.proc.pid:
            return True
        self.t_end = now()
        self.rc = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.rc
        self.rusage = ru
        return False

    def wait(self, timeout):
        deadline = now() + timeout
        while True:
            if not self.running():
                break
            if now() > deadline:
                self.proc.kill()
                pid, status, ru = os.wait4(self.proc.pid, 0)
                self.t_end = now()
                self.rc = -9
                self.proc.returncode = self.rc
                self.rusage = ru
                break
            time.sleep(0.005)
        self._out_t.join(5)
        self._err_t.join(5)
        return self.rc

    @property
    def wall_s(self):
        return self.t_end - self.t_start

    def out_text(self):
        return "".join(l for _, l in self.stdout_lines)

    def line_time(self, needle):
        """When a line containing `needle` arrived on stdout or stderr (None if never)."""
        for t, l in sorted(self.stdout_lines + self.stderr_lines):
            if needle in l:
                return t
        return None

    def err_text(self):
        return "\n".join(l for _, l in self.stderr_lines)


def run_once(argv, timeout):
    r = Run(argv)
    r.wait(timeout)
    return r


def throughput_of(text):
    m = THROUGHPUT_RE.search(text)
    return float(m.group(1)) if m else None


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def losses_of(doc):
    return {l["what"]: l["count"] for l in (doc or {}).get("losses", [])}


def drops_of(losses):
    return {k: v for k, v in losses.items() if DROP_RE.match(k) and v}


def quantiles(xs):
    xs = sorted(xs)
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1], "n": len(xs)}


# ---------------------------------------------------------------- machine

def save_results(path, build, **fields):
    """A results document (the date, machine_info(build), then `fields`), written to `path`
    when one is given; returned."""
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(build), **fields}
    if path:
        with open(path, "w") as f:
            json.dump(res, f, indent=1)
        print(f"\nwrote {path}")
    return res


def machine_info(build):
    info = {"hostname": socket.gethostname(), "cpus": os.cpu_count(), "kernel": os.uname().release}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            info["cpu_model"] = m.group(1).strip() if m else ""
    except OSError:
        pass
    info["pmu"] = os.path.exists("/sys/bus/event_source/devices/cpu") or \
        os.path.exists("/sys/bus/event_source/devices/cpu_core")
    with open("/proc/meminfo") as f:
        m = re.search(r"MemTotal:\s+(\d+)", f.read())
        info["mem_gib"] = round(int(m.group(1)) / 1048576, 1) if m else None
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip() != ""
        info["git"] = commit + ("+dirty" if dirty else "")
    except OSError:
        info["git"] = ""
    return info


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# ---------------------------------------------------------------- overhead

def overhead(ctx):
    wl = ctx.workloads
    secs = ctx.seconds
    modes = ["base", "ccprof", "ccprof_cont"]
    if ctx.perf:
        modes += ["perf_g", "perf_dwarf"]
    workloads = {
        "s01-lock-contention": [os.path.join(wl, "s01-lock-contention"), f"--seconds={secs}"],
        "s03-false-sharing": [os.path.join(wl, "s03-false-sharing"), f"--seconds={secs}"],
        "s13-lock-held-across-io": [os.path.join(wl, "s13-lock-held-across-io"), f"--seconds={secs}"],
        "cpu-bound": [os.path.join(ctx.benchdir, "cpu-bound"), f"--seconds={secs}"],
    }
    if ctx.overhead_workloads:
        unknown = set(ctx.overhead_workloads) - set(workloads)
        if unknown:
            raise SystemExit(f"bench: unknown overhead workload(s) {sorted(unknown)}; known: {sorted(workloads)}")
        workloads = {k: v for k, v in workloads.items() if k in ctx.overhead_workloads}
    result = {}
    for name, target in workloads.items():
        runs = []
        for rnd in range(ctx.rounds):
            order = modes[:]
            random.Random(f"{name}/{rnd}").shuffle(order)
            for mode in order:
                out = os.path.join(ctx.tmp, f"ovh-{name}-{rnd}-{mode}")
                if mode == "base":
                    argv = target
                elif mode == "ccprof":
                    argv = [ctx.ccprof, "run", "-o", out, "--"] + target
                elif mode == "ccprof_cont":
                    argv = [ctx.ccprof, "run", "--mode", "continuous", "-o", out, "--"] + target
                elif mode == "perf_g":
                    argv = ["perf", "record", "-q", "-e", "cpu-clock", "-g", "-o", out + ".perf.data", "--"] + target
                else:
                    argv = ["perf", "record", "-q", "-e", "cpu-clock", "--call-graph", "dwarf", "-o",
                            out + ".perf.data", "--"] + target
                r = run_once(argv, timeout=secs * 4 + 120)
                thr = throughput_of(r.out_text())
                row = {"round": rnd, "mode": mode, "throughput": thr, "wall_s": round(r.wall_s, 3), "rc": r.rc}
                if mode.startswith("ccprof"):
                    doc = read_json(os.path.join(out, "findings.json"))
                    row["findings_json"] = doc is not None
                    row["drops"] = drops_of(losses_of(doc))
                    if r.rc != 0 or doc is None:
                        row["error"] = r.err_text()[-500:]
                        ctx.failures.append(f"ccprof run {name}: rc={r.rc}: {r.err_text()[-300:]}")
                    shutil.rmtree(out, ignore_errors=True)
                elif mode.startswith("perf"):
                    if r.rc != 0:
                        row["error"] = r.err_text()[-300:]
                    try:
                        os.unlink(out + ".perf.data")
                    except OSError:
                        pass
                if thr is None and not mode.startswith("ccprof") and mode != "base":
                    log(f"bench: {name} under {mode} printed no throughput (rc={r.rc})")
                runs.append(row)
                log(f"  overhead {name:26s} round {rnd} {mode:10s} throughput={thr} wall={r.wall_s:.2f}s")
        base = {r["round"]: r["throughput"] for r in runs if r["mode"] == "base" and r["throughput"]}
        ratios = {}
        for mode in modes[1:]:
            xs = [r["throughput"] / base[r["round"]] for r in runs
                  if r["mode"] == mode and r["throughput"] and r["round"] in base]
            q = quantiles(xs)
            if q:
                q["loss_pct"] = round((1 - q["median"]) * 100, 2)
                for k in ("median", "min", "max"):
                    q[k] = round(q[k], 4)
            ratios[mode] = q
        result[name] = {"command": target, "base_throughput": quantiles(list(base.values())),
                        "ratio": ratios, "runs": runs}
    return result


# ---------------------------------------------------------------- capacity

def storm_counts(ccprof_stdout, doc):
    m = STORM_RE.search(ccprof_stdout)
    if not m or doc is None:
        return None
    lo, hi = int(m.group(1), 16), int(m.group(2), 16)
    waits, handoffs, nvcsw, nivcsw, elapsed = (int(m.group(3)), int(m.group(4)), int(m.group(5)),
                                               int(m.group(6)), float(m.group(7)))
    kernel_storm = events_storm = kernel_all = 0
    for lk in doc.get("locks", []):
        a = int(lk["address"], 16)
        kernel_all += lk["waits"]
        if lo <= a <= hi:
            kernel_storm += lk["waits"]
            events_storm += sum(w["waits"] for w in lk.get("waiters", []))
    losses = losses_of(doc)
    events_all = doc.get("samples", {}).get("futex_waits", 0)
    return {
        "target_waits": waits, "handoffs": handoffs, "elapsed_s": elapsed,
        "waits_per_s": round(waits / elapsed, 1) if elapsed else 0,
        "switches_per_s": round((nvcsw + nivcsw) / elapsed, 1) if elapsed else 0,
        "kernel_waits_on_target_words": kernel_storm, "events_on_target_words": events_storm,
        "kernel_waits_all": kernel_all, "events_all": events_all,
        "drops": drops_of(losses),
        "stacks_rate_limited": losses.get("futex.stacks_rate_limited", 0),
        # Every wait the target made is in the kernel totals (or counted as not recorded) ...
        "unaccounted_target_vs_kernel": waits - kernel_storm - losses.get("futex.start_map_full", 0),
        # ... and every wait in the kernel totals is an event or a counted drop.
        "unaccounted_kernel_vs_events": kernel_all - events_all - losses.get("futex.wait_events_dropped", 0),
    }


def capacity(ctx):
    storm = os.path.join(ctx.benchdir, "futex-storm")
    secs = 1 if ctx.quick else 2
    rates = [2000, 0] if ctx.quick else [1000, 5000, 20000, 50000, 100000, 0]
    series_defs = [
        {"name": "one lock per pair", "pairs": 2, "locks": 1},
        {"name": "a new lock each wait", "pairs": 2, "locks": 4096},
    ]
    out = []
    for sd in series_defs:
        runs = []
        for rate in rates:
            d = os.path.join(ctx.tmp, f"cap-{sd['locks']}-{rate}")
            argv = [ctx.ccprof, "run", "-o", d, "--", storm, f"--seconds={secs}", f"--rate={rate}",
                    f"--pairs={sd['pairs']}", f"--locks={sd['locks']}"]
            r = run_once(argv, timeout=secs * 10 + 120)
            doc = read_json(os.path.join(d, "findings.json"))
            row = {"requested_rate": rate or "unpaced", "rc": r.rc, "ccprof_wall_s": round(r.wall_s, 2)}
            c = storm_counts(r.out_text(), doc)
            if c is None:
                row["error"] = r.err_text()[-500:]
                ctx.failures.append(f"capacity run rate={rate} locks={sd['locks']}: rc={r.rc}: {r.err_text()[-300:]}")
            else:
                row.update(c)
            shutil.rmtree(d, ignore_errors=True)
            runs.append(row)
            log(f"  capacity {sd['name']:22s} rate={rate or 'unpaced':>7} -> "
                f"{row.get('waits_per_s')} waits/s drops={row.get('drops')} "
                f"unaccounted={row.get('unaccounted_target_vs_kernel')}/{row.get('unaccounted_kernel_vs_events')}")
        ok = [r for r in runs if "waits_per_s" in r]
        clean = [r["waits_per_s"] for r in ok if not r["drops"]]
        dropping = [r["waits_per_s"] for r in ok if r["drops"]]
        silent = [r for r in ok if r["unaccounted_target_vs_kernel"] != 0 or r["unaccounted_kernel_vs_events"] != 0]
        out.append(dict(sd, runs=runs,
                        max_zero_drop_waits_per_s=max(clean) if clean else None,
                        lowest_dropping_waits_per_s=min(dropping) if dropping else None,
                        machine_limited=not dropping,
                        silent_loss_runs=len(silent)))
    return out


# ---------------------------------------------------------------- analysis cost

def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return s[s.rindex(")") + 2]
    except (OSError, ValueError):
        return None


def self_cpu_s(pid):
    """utime + stime of the process itself (not its children), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"VmHWM:\s+(\d+)", f.read())
        return int(m.group(1)) if m else None
    except OSError:
        return None


def usage_of(pid, cpu, hwm):
    """ccprof's CPU so far and its peak RSS, keeping the last values once /proc no
    longer answers (the process is exiting)."""
    c = self_cpu_s(pid)
    h = vm_hwm_kib(pid)
    return (c if c is not None else cpu), max(hwm, h or 0)


def analysis_cost(ctx):
    secs = 2 if ctx.quick else 10
    targets = {"s01-lock-contention": [os.path.join(ctx.workloads, "s01-lock-contention"), f"--seconds={secs}"]}
    if not ctx.quick:
        targets["cpu-bound"] = [os.path.join(ctx.benchdir, "cpu-bound"), f"--seconds={secs}"]
    rows = []
    for name, target in targets.items():
        for rep in range(1 if ctx.quick else 2):
            d = os.path.join(ctx.tmp, f"ana-{name}-{rep}")
            r = Run([ctx.ccprof, "-v", "run", "-o", d, "--"] + target)
            tpid = None
            t_target_exit = None
            hwm = 0
            cpu = cpu_at_exit = None
            deadline = now() + secs * 6 + 120
            # Watch the target (ccprof's child) go: a zombie or gone is "exited".
            while r.running() and now() < deadline:
                if tpid is None:
                    tpid = child_of(r.proc.pid)
                elif t_target_exit is None and proc_state(tpid) in (None, "Z", "X"):
                    t_target_exit = now()
                    cpu_at_exit = cpu
                cpu, hwm = usage_of(r.proc.pid, cpu, hwm)
                time.sleep(0.005)
            r.wait(60)
            doc = read_json(os.path.join(d, "findings.json"))
            t_session_end = r.line_time("session ended")
            row = {"target": name, "profile_s": secs, "rc": r.rc, "ccprof_wall_s": round(r.wall_s, 3)}
            if t_target_exit is None or doc is None:
                row["error"] = r.err_text()[-500:]
                ctx.failures.append(f"analysis run {name}: rc={r.rc}: {r.err_text()[-300:]}")
            else:
                row["post_exit_s"] = round(r.t_end - t_target_exit, 3)
                if t_session_end:
                    row["collect_tail_s"] = round(t_session_end - t_target_exit, 3)
                    row["analyse_and_write_s"] = round(r.t_end - t_session_end, 3)
                row["peak_rss_mib"] = round(hwm / 1024, 1)
                # wait4's ru_maxrss covers ccprof and the children it reaped (the target): an upper bound
                row["peak_rss_wait4_mib"] = round(r.rusage.ru_maxrss / 1024, 1)
                # ccprof's own CPU (not the target's), polled: while the target ran, and in all
                row["ccprof_cpu_while_profiling_s"] = cpu_at_exit
                row["ccprof_cpu_s"] = cpu
                row["futex_waits"] = doc.get("samples", {}).get("futex_waits")
                row["stack_copies"] = doc.get("samples", {}).get("stack_copies")
                row["memory_samples"] = doc.get("samples", {}).get("memory_samples")
                row["drops"] = drops_of(losses_of(doc))
                row["output_bytes"] = {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)}
            shutil.rmtree(d, ignore_errors=True)
            rows.append(row)
            log(f"  analysis {name} rep {rep}: post_exit={row.get('post_exit_s')}s "
                f"(collect tail {row.get('collect_tail_s')}s, analyse+write {row.get('analyse_and_write_s')}s) "
                f"rss={row.get('peak_rss_mib')} MiB")
    return rows


# ---------------------------------------------------------------- attach latency

def attach_latency(ctx):
    storm = os.path.join(ctx.benchdir, "futex-storm")
    reps = 1 if ctx.quick else 3
    rate = 10000
    rows = []
    for rep in range(reps):
        ts_path = os.path.join(ctx.tmp, f"att-{rep}.ts")
        d = os.path.join(ctx.tmp, f"att-{rep}")
        target = Run([storm, "--seconds=3.5", f"--rate={rate}", "--pairs=1", f"--timestamps={ts_path}"])
        time.sleep(1.0)
        t0_ns = time.monotonic_ns()  # CLOCK_MONOTONIC, the clock the target stamps its waits with
        t0 = now()
        r = Run([ctx.ccprof, "-v", "attach", "--pid", str(target.proc.pid), "-o", d])
        target.wait(60)
        r.wait(120)
        doc = read_json(os.path.join(d, "findings.json"))
        m = STORM_RE.search(target.out_text())
        row = {"rc": r.rc, "wait_rate_per_s": rate}
        try:
            with open(ts_path) as f:
                stamps = [int(x) for x in f.read().split()]
        except OSError:
            stamps = []
        if doc is None or not m or not stamps:
            row["error"] = r.err_text()[-500:]
            ctx.failures.append(f"attach run: rc={r.rc}: {r.err_text()[-300:]}")
        else:
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            counted = sum(lk["waits"] for lk in doc.get("locks", []) if lo <= int(lk["address"], 16) <= hi)
            n = len(stamps)
            row.update({"target_waits": n, "counted_waits": counted})
            if 0 < counted < n:
                # The waits ccprof counted are the last `counted` the target entered: the futex
                # probes went live between the entry of wait n-counted-1 and wait n-counted.
                row["probes_live_s"] = round((stamps[n - counted] - t0_ns) / 1e9, 4)
                row["probes_live_lower_bound_s"] = round((stamps[n - counted - 1] - t0_ns) / 1e9, 4)
            else:
                row["error"] = f"cannot place the attach: ccprof counted {counted} of {n} waits"
            t_attached = r.line_time("attached to pid")
            if t_attached:
                row["all_collectors_attached_s"] = round(t_attached - t0, 4)
        shutil.rmtree(d, ignore_errors=True)
        rows.append(row)
        log(f"  attach rep {rep}: probes live after {row.get('probes_live_s')} s, all collectors attached "
            f"after {row.get('all_collectors_attached_s')} s")
    return rows


# ---------------------------------------------------------------- BPF run time

class BpfStats:
    """BPF_ENABLE_STATS through the bpf syscall: on while the fd is open, refcounted by the
    kernel, so it neither clobbers nor is clobbered by kernel.bpf_stats_enabled."""

    def __init__(self):
        self.fd = -1
        libc = ctypes.CDLL(None, use_errno=True)
        attr = (ctypes.c_uint8 * 16)()  # enable_stats.type = BPF_STATS_RUN_TIME (0)
        self.fd = libc.syscall(321, 32, ctypes.byref(attr), ctypes.sizeof(attr))  # SYS_bpf, BPF_ENABLE_STATS

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def bpf_prog_ids(pid):
    """Ids of the BPF programs whose fds the process holds (from /proc/PID/fdinfo)."""
    ids = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                m = re.search(r"^prog_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def bpf_prog_stats(ids):
    """id -> bpftool's view (name, run_cnt, run_time_ns). The run counters in fdinfo lag
    behind here (seen stale for seconds on 6.18), bpftool's BPF_OBJ_GET_INFO_BY_FD does not."""
    p = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    try:
        return {prog["id"]: prog for prog in json.loads(p.stdout or "[]") if prog["id"] in ids}
    except ValueError:
        return {}


def bpf_floor(ctx, secs):
    """The floor under every per-syscall figure: bench/bpf_floor.bpf.c's empty programs on
    the same raw syscall tracepoints, with futex-storm running alone. Their run time under
    BPF_ENABLE_STATS is the dispatch and the statistics' own clock reads."""
    floor = os.path.join(ctx.benchdir, "bpf-floor")
    if not os.path.exists(floor):
        return {"skipped": "bench/bpf-floor not built"}
    holder = subprocess.Popen([floor], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        if holder.stdout.readline().strip() != "attached":
            return {"skipped": f"bpf-floor: {holder.stderr.read().strip()}"}
        storm = subprocess.Popen([os.path.join(ctx.benchdir, "futex-storm"), f"--seconds={secs}", "--pairs=2"],
                                 stdout=subprocess.DEVNULL)
        last = {}
        while storm.poll() is None:
            last.update(bpf_prog_stats(bpf_prog_ids(holder.pid)))
            time.sleep(0.1)
        last.update(bpf_prog_stats(bpf_prog_ids(holder.pid)))
    finally:
        holder.stdin.close()
        holder.wait(30)
    by_name = {p.get("name"): p for p in last.values()}
    enter, leave = by_name.get("floor_sys_enter"), by_name.get("floor_sys_exit")
    if not enter or not leave or not enter.get("run_cnt"):
        return {"skipped": "no run counts for the floor programs"}
    ns = round((enter.get("run_time_ns", 0) + leave.get("run_time_ns", 0)) / enter["run_cnt"])
    return {"ns_per_syscall": ns, "enter_avg_ns": round(enter.get("run_time_ns", 0) / enter["run_cnt"]),
            "exit_avg_ns": round(leave.get("run_time_ns", 0) / max(1, leave.get("run_cnt", 0)))}


def bpf_ops(ctx):
    """What each step of the collectors' BPF programs costs on this machine (bench/bpf_ops.bpf.c):
    each step four times on raw sys_enter for bench/bpf-ops's own getppid() calls, no contention."""
    ops = os.path.join(ctx.benchdir, "bpf-ops")
    if not os.path.exists(ops):
        return {"skipped": "bench/bpf-ops not built"}
    p = subprocess.run([ops, f"--syscalls={200000 if ctx.quick else 2000000}"], capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        return {"skipped": p.stderr.strip() or f"bpf-ops exited {p.returncode}"}
    return json.loads(p.stdout)


def bpf_cost(ctx):
    if not shutil.which("bpftool"):
        return {"skipped": "bpftool not found"}
    stats = BpfStats()
    if stats.fd < 0:
        return {"skipped": "BPF_ENABLE_STATS refused"}
    secs = 1 if ctx.quick else 3
    targets = {
        "futex-storm unpaced": [os.path.join(ctx.benchdir, "futex-storm"), f"--seconds={secs}", "--pairs=2"],
        "s01-lock-contention": [os.path.join(ctx.workloads, "s01-lock-contention"), f"--seconds={secs}"],
        "cpu-bound": [os.path.join(ctx.benchdir, "cpu-bound"), f"--seconds={secs}"],
    }
    out = {}
    try:
        out["step costs"] = steps = bpf_ops(ctx)
        log(f"  bpf step costs: {steps}")
        out["floor (empty programs)"] = floor = bpf_floor(ctx, secs)
        log(f"  bpf floor: {floor}")
        for name, target in targets.items():
            d = os.path.join(ctx.tmp, "bpf")
            r = Run([ctx.ccprof, "run", "-o", d, "--"] + target)
            last = {}
            while r.running():
                last.update(bpf_prog_stats(bpf_prog_ids(r.proc.pid)))
                time.sleep(0.1)
            r.wait(60)
            thr = throughput_of(r.out_text())
            elapsed = secs
            progs = []
            for prog_id, prog in last.items():
                cnt, ns = prog.get("run_cnt", 0), prog.get("run_time_ns", 0)
                progs.append({"id": prog_id, "name": prog.get("name"), "type": prog.get("type"), "run_cnt": cnt,
                              "run_time_ns": ns, "avg_ns": round(ns / cnt) if cnt else None})
            progs.sort(key=lambda p: -p["run_time_ns"])
            total_ns = sum(p["run_time_ns"] for p in progs)
            # The syscall path: the sched collector's raw sys_enter/sys_exit programs, which
            # tail-call the futex programs (a tail-called program's time is its caller's).
            by_name = {p["name"]: p for p in progs}
            enter, leave = by_name.get("sched_sys_enter"), by_name.get("sched_sys_exit")
            per_syscall = None
            if enter and leave and enter["run_cnt"]:
                per_syscall = round((enter["run_time_ns"] + leave["run_time_ns"]) / enter["run_cnt"])
            above = per_syscall - floor["ns_per_syscall"] if per_syscall and "ns_per_syscall" in floor else None
            out[name] = {"programs": progs, "total_bpf_s": round(total_ns / 1e9, 4),
                         "syscall_path_ns_per_syscall": per_syscall, "syscall_path_ns_above_floor": above,
                         "bpf_cpu_share_of_one_cpu": round(total_ns / 1e9 / elapsed, 4), "throughput": thr,
                         "note": "bpftool every ~0.1 s until ccprof exits: a lower bound"}
            shutil.rmtree(d, ignore_errors=True)
            log(f"  bpf {name}: {total_ns / 1e6:.1f} ms of BPF in {secs} s, {per_syscall} ns per syscall: " +
                ", ".join(f"{p['name']} {p['run_cnt']}x{p['avg_ns']}ns" for p in progs[:5] if p["run_cnt"]))
    finally:
        stats.close()
    return out


# ---------------------------------------------------------------- server

BUDGET_SERVER_MB_PER_MIN = 20.0
BUDGET_SERVER_POST_WINDOW_S = 1.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    deadline = now() + timeout
    while now() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def stop_proc(p, timeout=30):
    """Ends a process this benchmark started (TERM, then KILL)."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Memcached:
    """memcached -t 4 on 127.0.0.1, loaded by build/tests/memcached_load (8 connections, 16 hot keys)."""
    name = "memcached"

    def __init__(self, ctx, own_session=True):
        self.ctx = ctx
        self.own_session = own_session
        self.load_bin = os.path.join(os.path.dirname(ctx.ccprof), "tests", "memcached_load")

    def missing(self):
        if not shutil.which("memcached"):
            return "memcached not installed (apt-get install memcached)"
        if not os.access(self.load_bin, os.X_OK):
            return f"{self.load_bin} not built"
        return None

    def start(self):
        self.port = free_port()
        self.server = subprocess.Popen(["memcached", "-t", "4", "-p", str(self.port), "-l", "127.0.0.1", "-U", "0",
                                        "-u", "root"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=self.own_session)
        if not wait_port(self.port, 10):
            stop_proc(self.server)
            return "memcached did not listen"
        return None

    def load(self, seconds):
        return subprocess.Popen([self.load_bin, str(self.port), "8", str(seconds)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=self.own_session)

    def stop(self):
        stop_proc(self.server)


class MariaDB:
    """Debian's mariadbd in a scratch datadir on 127.0.0.1, loaded by sysbench oltp_read_write
    (16 threads, 4 tables of 20k rows)."""
    name = "mariadb"

    def __init__(self, ctx, own_session=True):
        self.ctx = ctx
        self.own_session = own_session
        self.dir = os.path.join(ctx.tmp, "mariadb" if own_session else "mariadb-one-session")

    def missing(self):
        for b in ("mariadbd", "mariadb-install-db", "sysbench", "mariadb"):
            if not shutil.which(b) and not os.path.exists(f"/usr/sbin/{b}"):
                return f"{b} not installed (apt-get install mariadb-server sysbench)"
        return None

    def sysbench(self, *args):
        return ["sysbench", "oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1",
                f"--mysql-port={self.port}", "--mysql-user=root", "--mysql-db=sbtest", "--tables=4",
                "--table-size=20000"] + list(args)

    def start(self):
        self.port = free_port()
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        p = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return "mariadb-install-db failed: " + p.stderr[-300:]
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.sock = os.path.join(self.dir, "sock")
        self.server = subprocess.Popen([mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={self.sock}",
                                        f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root",
                                        "--skip-log-bin", "--innodb-buffer-pool-size=256M",
                                        f"--pid-file={self.dir}/pid", "--max-connections=200"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=self.own_session)
        if not wait_port(self.port, 60):
            stop_proc(self.server)
            return "mariadbd did not listen"
        p = subprocess.run(["mariadb", f"--socket={self.sock}", "-uroot", "-e",
                            "CREATE DATABASE IF NOT EXISTS sbtest"], capture_output=True, text=True)
        if p.returncode != 0:
            self.stop()
            return "cannot create the sbtest database: " + p.stderr[-300:]
        p = subprocess.run(self.sysbench("prepare"), capture_output=True, text=True)
        if p.returncode != 0:
            self.stop()
            return "sysbench prepare failed: " + (p.stderr or p.stdout)[-300:]
        return None

    def load(self, seconds):
        return subprocess.Popen(self.sysbench("--threads=16", f"--time={int(seconds)}", "--report-interval=0", "run"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=self.own_session)

    def stop(self):
        stop_proc(self.server, 60)


def server_window(ctx, srv, window_s):
    """One `ccprof -v attach --duration window_s` of the loaded server: recording size,
    ccprof's peak RSS and CPU, and the time from the window's end to ccprof's exit."""
    d = os.path.join(ctx.tmp, f"srv-{srv.name}-{window_s}-{'own' if srv.own_session else 'same'}")
    load = srv.load(window_s + 120)  # outlives the window; stopped once ccprof has exited
    time.sleep(2.0)  # the load's connections up, the server's threads busy
    r = Run([ctx.ccprof, "-v", "attach", "--pid", str(srv.server.pid), "--duration", str(window_s), "-o", d])
    hwm = 0
    cpu = None
    deadline = now() + window_s * 4 + 300
    while r.running() and now() < deadline:
        cpu, hwm = usage_of(r.proc.pid, cpu, hwm)
        time.sleep(0.01)
    r.wait(60)
    stop_proc(load, 10)
    row = {"server": srv.name, "window_s": window_s, "server_in_own_session": srv.own_session, "rc": r.rc,
           "ccprof_wall_s": round(r.wall_s, 3)}
    doc = read_json(os.path.join(d, "findings.json"))
    t_attached = r.line_time("attached to pid")
    t_session_end = r.line_time("session ended")
    rec_path = os.path.join(d, "recording.ccprof")
    if r.rc != 0 or doc is None or not t_attached:
        row["error"] = r.err_text()[-500:]
        ctx.failures.append(f"server {srv.name} {window_s} s: rc={r.rc}: {r.err_text()[-300:]}")
    else:
        # The window runs from the session's start (just before "attached to pid" is
        # logged) for window_s: its end is placed from that line, a slight overestimate
        # of the time after it.
        t_window_end = t_attached + window_s
        row["post_window_s"] = round(r.t_end - t_window_end, 3)
        if t_session_end:
            row["collect_tail_s"] = round(t_session_end - t_window_end, 3)
            row["analyse_and_write_s"] = round(r.t_end - t_session_end, 3)
        rec_bytes = os.path.getsize(rec_path) if os.path.exists(rec_path) else None
        row["recording_bytes"] = rec_bytes
        if rec_bytes is not None:
            row["recording_mb_per_min"] = round(rec_bytes / 1e6 / window_s * 60, 2)
        row["peak_rss_mib"] = round(hwm / 1024, 1)
        ru = r.rusage  # attach reaps no child: ccprof's own
        row["ccprof_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 3)
        row["ccprof_cpu_polled_s"] = cpu
        row["ccprof_cpu_share_of_one_cpu"] = round((ru.ru_utime + ru.ru_stime) / r.wall_s, 4)
        samples = doc.get("samples", {})
        row["futex_waits"] = samples.get("futex_waits")
        row["stack_copies"] = samples.get("stack_copies")
        row["memory_samples"] = samples.get("memory_samples")
        row["drops"] = drops_of(losses_of(doc))
        # The outputs' own CPU after the session ended (ccprof -v's "outputs:" line): what
        # ccprof does after the window, apart from how long it waited for a CPU.
        m = re.search(r"outputs: .*?([0-9.]+) s of CPU", r.err_text())
        row["outputs_cpu_s"] = float(m.group(1)) if m else None
        ms = doc.get("profile", {}).get("memory_sampler", {})
        row["memory_sampler"] = {k: ms.get(k) for k in ("frequency_hz", "requested_hz", "rate_changes")}
        row["memory_sampler"]["share_percent"] = ms.get("cost", {}).get("share_percent")
        row["output_bytes"] = {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)}
    shutil.rmtree(d, ignore_errors=True)
    log(f"  server {srv.name} {window_s:>3} s{'' if srv.own_session else ' (one session)'}: recording {row.get('recording_mb_per_min')} MB/min, "
        f"window end -> outputs {row.get('post_window_s')} s (collect tail {row.get('collect_tail_s')} s, "
        f"analyse+write {row.get('analyse_and_write_s')} s), peak RSS {row.get('peak_rss_mib')} MiB, "
        f"CPU {row.get('ccprof_cpu_s')} s (outputs {row.get('outputs_cpu_s')} s), "
        f"sampler {row.get('memory_sampler', {}).get('frequency_hz')} Hz "
        f"~{row.get('memory_sampler', {}).get('share_percent')}% of the CPUs")
    return row


def server(ctx):
    """A real multi-threaded server on 127.0.0.1 under load, attached for 10 s and 60 s
    (--quick: memcached once for 2 s, no timing asserted)."""
    # (server, own session, windows): the last, everything in one session, is the worst case
    # and is shown beside the others, not held to the budget.
    plan = [(Memcached, True, [2])] if ctx.quick else [(Memcached, True, [10, 60]), (MariaDB, True, [10, 60]),
                                                       (MariaDB, False, [60])]
    out = {}
    for kind, own_session, windows in plan:
        srv = kind(ctx, own_session)
        name = srv.name if own_session else srv.name + "_one_session"
        why = srv.missing()
        if why:
            out[name] = {"skipped": why}
            log(f"  server {name}: skipped: {why}")
            continue
        why = srv.start()
        if why:
            out[name] = {"error": why}
            ctx.failures.append(f"server {name}: {why}")
            continue
        try:
            rows = [server_window(ctx, srv, w) for w in windows]
        finally:
            srv.stop()
        ok = [x for x in rows if "post_window_s" in x]
        budgets_ = []
        if ok and not ctx.quick and own_session:
            worst = max(x["post_window_s"] for x in ok)
            size = max(x.get("recording_mb_per_min") or 0 for x in ok)
            budgets_ = [{"budget": f"outputs <= {BUDGET_SERVER_POST_WINDOW_S} s after the window's end",
                         "value": f"{worst} s (worst)", "met": worst <= BUDGET_SERVER_POST_WINDOW_S},
                        {"budget": f"recording <= {BUDGET_SERVER_MB_PER_MIN} MB/min", "value": f"{size} MB/min",
                         "met": size <= BUDGET_SERVER_MB_PER_MIN}]
            for b in budgets_:
                log(f"  server {name}: {'met   ' if b['met'] else 'MISSED'} {b['budget']}: {b['value']}")
        out[name] = {"windows": rows, "budgets": budgets_}
    return out


# ---------------------------------------------------------------- report

def budgets(res):
    rows = []
    for name, w in res.get("overhead", {}).items():
        c = w["ratio"].get("ccprof")
        d = w["ratio"].get("perf_dwarf")
        if c:
            rows.append({"budget": f"throughput loss {name} <= {BUDGET_LOSS_PCT}% (goal {GOAL_LOSS_PCT}%)",
                         "value": f"{c['loss_pct']}%", "met": c["loss_pct"] <= BUDGET_LOSS_PCT,
                         "goal_met": c["loss_pct"] <= GOAL_LOSS_PCT})
            if d:
                rows.append({"budget": f"ccprof loss < perf dwarf loss on {name}",
                             "value": f"{c['loss_pct']}% vs {d['loss_pct']}%",
                             "met": c["loss_pct"] < d["loss_pct"]})
        k = w["ratio"].get("ccprof_cont")
        if k:
            rows.append({"budget": f"throughput loss {name}, --mode continuous <= {CONTINUOUS_LOSS_PCT}%",
                         "value": f"{k['loss_pct']}%", "met": k["loss_pct"] <= CONTINUOUS_LOSS_PCT})
    storm = res.get("bpf", {}).get("futex-storm unpaced") if isinstance(res.get("bpf"), dict) else None
    if storm and storm.get("syscall_path_ns_per_syscall"):
        v = storm["syscall_path_ns_per_syscall"]
        floor = res["bpf"].get("floor (empty programs)", {}).get("ns_per_syscall")
        rows.append({"budget": f"BPF time per futex syscall <= {BPF_NS_PER_FUTEX_SYSCALL} ns (futex-storm, "
                               "syscall-path programs incl. tail calls, stats overhead included)",
                     "value": f"{v} ns" + (f" (empty programs there: {floor} ns)" if floor else ""),
                     "met": v <= BPF_NS_PER_FUTEX_SYSCALL})
    ana = [a for a in res.get("analysis", []) if "post_exit_s" in a]
    if ana:
        worst = max(a["post_exit_s"] for a in ana)
        rows.append({"budget": f"outputs <= {BUDGET_POST_EXIT_S} s after target exit "
                               f"({ana[0]['profile_s']} s profile)",
                     "value": f"{worst} s (worst)", "met": worst <= BUDGET_POST_EXIT_S})
        rss = max(a["peak_rss_mib"] for a in ana)
        rows.append({"budget": f"ccprof peak RSS < {BUDGET_RSS_MIB} MiB", "value": f"{rss} MiB",
                     "met": rss < BUDGET_RSS_MIB})
    att = [a["probes_live_s"] for a in res.get("attach", []) if "probes_live_s" in a]
    if att:
        worst = max(att)
        rows.append({"budget": f"probes live <= {BUDGET_ATTACH_S} s after `ccprof attach`",
                     "value": f"{worst} s (worst)", "met": worst <= BUDGET_ATTACH_S})
    for s in res.get("capacity", []):
        rows.append({"budget": f"no silent loss ({s['name']})",
                     "value": f"{s['silent_loss_runs']} runs with unaccounted waits",
                     "met": s["silent_loss_runs"] == 0})
    return rows


def fmt_ratio(q):
    if not q:
        return "-"
    return f"{q['loss_pct']:+.1f}% [{(1 - q['max']) * 100:+.1f}..{(1 - q['min']) * 100:+.1f}]"


def print_tables(res):
    m = res["machine"]
    print(f"\nccprof benchmark ({res['mode']}), {res['date']}, {m['hostname']}: {m['cpus']} CPUs "
          f"{m.get('cpu_model', '')}, {'PMU' if m['pmu'] else 'no PMU'}, kernel {m['kernel']}, ccprof {m['git']}")
    print(f"load average at start {res['loadavg_start']}, at end {res['loadavg_end']} "
          f"(other load on the machine makes every figure noisier)")
    if "overhead" in res:
        print("\nThroughput loss (+ = slower), median over rounds [best..worst]; each run vs the unprofiled run "
              "of its round")
        hdr = (f"{'workload':26s} {'unprofiled (median)':>22s}  {'ccprof':>22s}  {'ccprof continuous':>22s}  "
               f"{'perf -g':>22s}  {'perf dwarf':>22s}")
        print(hdr)
        print("-" * len(hdr))
        for name, w in res["overhead"].items():
            b = w["base_throughput"]
            print(f"{name:26s} {(b['median'] if b else 0):>22.4g}  {fmt_ratio(w['ratio'].get('ccprof')):>22s}  "
                  f"{fmt_ratio(w['ratio'].get('ccprof_cont')):>22s}  "
                  f"{fmt_ratio(w['ratio'].get('perf_g')):>22s}  {fmt_ratio(w['ratio'].get('perf_dwarf')):>22s}")
    if "capacity" in res:
        print("\nCollector capacity (bench/futex-storm under ccprof run)")
        hdr = (f"{'series':22s} {'requested':>9s} {'waits/s':>9s} {'switch/s':>9s} {'target':>8s} "
               f"{'kernel':>8s} {'events':>8s} {'drops':>26s} {'unacc.':>7s}")
        print(hdr)
        print("-" * len(hdr))
        for s in res["capacity"]:
            for r in s["runs"]:
                if "waits_per_s" not in r:
                    print(f"{s['name']:22s} {str(r['requested_rate']):>9s}  error: see JSON")
                    continue
                drops = ",".join(f"{k.split('.', 1)[1]}={v}" for k, v in r["drops"].items()) or "0"
                print(f"{s['name']:22s} {str(r['requested_rate']):>9s} {r['waits_per_s']:>9.0f} "
                      f"{r['switches_per_s']:>9.0f} {r['target_waits']:>8d} {r['kernel_waits_on_target_words']:>8d} "
                      f"{r['events_on_target_words']:>8d} {drops[:26]:>26s} "
                      f"{r['unaccounted_target_vs_kernel'] + r['unaccounted_kernel_vs_events']:>7d}")
            lim = " (no drops up to what the machine generates)" if s["machine_limited"] else ""
            print(f"  -> highest zero-drop rate: {s['max_zero_drop_waits_per_s']} waits/s{lim}; "
                  f"runs with unaccounted waits: {s['silent_loss_runs']}")
    if "analysis" in res:
        print("\nAnalysis cost (ccprof run of a busy target; post-exit = tail (collectors finish) + analyse "
              "and write; cpu s = ccprof's own CPU while the target ran / in all)")
        hdr = (f"{'target':22s} {'profile':>7s} {'post-exit':>9s} {'tail':>6s} {'analyse':>8s} "
               f"{'RSS MiB':>8s} {'cpu s':>11s} {'waits':>8s} {'stacks':>7s} {'mem smp':>8s}")
        print(hdr)
        print("-" * len(hdr))
        for a in res["analysis"]:
            if "post_exit_s" not in a:
                print(f"{a['target']:22s} error: see JSON")
                continue
            print(f"{a['target']:22s} {a['profile_s']:>6}s {a['post_exit_s']:>8.3f}s "
                  f"{a.get('collect_tail_s', float('nan')):>5.2f}s {a.get('analyse_and_write_s', float('nan')):>7.2f}s "
                  f"{a['peak_rss_mib']:>8.1f} {a['ccprof_cpu_while_profiling_s'] or 0:>5.2f}/{a['ccprof_cpu_s'] or 0:>5.2f} "
                  f"{a['futex_waits'] or 0:>8d} "
                  f"{a['stack_copies'] or 0:>7d} {a['memory_samples'] or 0:>8d}")
    if "attach" in res:
        print("\nAttach (futex-storm at 10k waits/s, attached 1 s into its run)")
        for i, a in enumerate(res["attach"]):
            print(f"  rep {i}: futex probes live after {a.get('probes_live_s')} s "
                  f"(> {a.get('probes_live_lower_bound_s')} s); all collectors attached after "
                  f"{a.get('all_collectors_attached_s')} s; counted {a.get('counted_waits')} of "
                  f"{a.get('target_waits')} waits {a.get('error', '')}")
    if "bpf" in res and "skipped" not in res["bpf"]:
        print("\nBPF program run time (BPF_ENABLE_STATS; lower bound)")
        for name, b in res["bpf"].items():
            if "programs" not in b:
                print(f"  {name:22s} {b}")
                continue
            progs = ", ".join(f"{p['name']} {p['run_cnt']}x{p['avg_ns']}ns" for p in b["programs"][:6] if p["run_cnt"])
            print(f"  {name:22s} {b['total_bpf_s'] * 1000:8.1f} ms = {b['bpf_cpu_share_of_one_cpu'] * 100:.2f}% "
                  f"of a CPU: {progs}")
    print("\nBudgets (reported, not asserted)")
    for b in res["budgets"]:
        mark = "met   " if b["met"] else "MISSED"
        goal = "" if "goal_met" not in b else ("  (goal met)" if b["goal_met"] else "  (goal missed)")
        print(f"  {mark} {b['budget']}: {b['value']}{goal}")


# ---------------------------------------------------------------- main

class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", help="the build folder (holds ccprof, workloads/, bench/)")
    ap.add_argument("--quick", action="store_true", help="CI: everything once, briefly; asserts no timings")
    ap.add_argument("--output", help="JSON path (default bench/results/<date>-<host>.json)")
    ap.add_argument("--rounds", type=int, help="overhead rounds (default 5; quick 1)")
    ap.add_argument("--seconds", type=float, help="seconds per overhead run (default 3; quick 0.5)")
    ap.add_argument("--only", help="comma-separated sections: overhead,capacity,analysis,attach,bpf,server")
    ap.add_argument("--overhead-workloads",
                    help="comma-separated overhead workloads (default all four): more rounds of the CPU-bound "
                         "ones (cpu-bound, s13-lock-held-across-io) in the same time")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()

    if os.geteuid() != 0:
        log("bench: skipped: needs root to load BPF programs")
        return 77
    build = os.path.abspath(args.build)
    ctx = Ctx()
    ctx.quick = args.quick
    ctx.ccprof = os.path.join(build, "ccprof")
    ctx.workloads = os.path.join(build, "workloads")
    ctx.benchdir = os.path.join(build, "bench")
    ctx.rounds = args.rounds or (1 if args.quick else 5)
    ctx.overhead_workloads = args.overhead_workloads.split(",") if args.overhead_workloads else None
    ctx.seconds = args.seconds or (0.5 if args.quick else 3)
    ctx.perf = shutil.which("perf") is not None
    ctx.failures = []
    for p in [ctx.ccprof, os.path.join(ctx.benchdir, "cpu-bound"), os.path.join(ctx.benchdir, "futex-storm"),
              os.path.join(ctx.workloads, "s01-lock-contention")]:
        if not os.access(p, os.X_OK):
            log(f"bench: {p} is missing: build first (cmake --build {args.build})")
            return 1
    sections = (args.only or "overhead,capacity,analysis,attach,bpf,server").split(",")
    ctx.tmp = tempfile.mkdtemp(prefix="ccprof-bench-")

    res = {"schema_version": 1, "mode": "quick" if ctx.quick else "full",
           "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": machine_info(build), "loadavg_start": loadavg(),
           "settings": {"rounds": ctx.rounds, "seconds_per_run": ctx.seconds, "perf": ctx.perf,
                        "overhead_workloads": ctx.overhead_workloads or "all",
                        "ccprof": "default settings (ccprof run/attach -o DIR)"}}
    if not ctx.perf:
        log("bench: perf not found: the perf baselines are skipped")
    started = now()
    try:
        steps = [("overhead", overhead), ("capacity", capacity), ("analysis", analysis_cost),
                 ("attach", attach_latency), ("bpf", bpf_cost), ("server", server)]
        for key, fn in steps:
            if key in sections:
                log(f"bench: {key}")
                res[key] = fn(ctx)
    finally:
        if not args.keep:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        else:
            log(f"bench: scratch kept in {ctx.tmp}")
    res["loadavg_end"] = loadavg()
    res["bench_wall_s"] = round(now() - started, 1)
    res["budgets"] = budgets(res)
    res["failures"] = ctx.failures

    path = args.output
    if not path:
        day = datetime.date.today().isoformat()
        path = os.path.join(HERE, "results", f"{day}-{res['machine']['hostname']}{'-quick' if ctx.quick else ''}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print_tables(res)
    print(f"\nwrote {path} ({res['bench_wall_s']} s)")
    if ctx.failures:
        log("bench: ccprof failed in %d runs:\n  %s" % (len(ctx.failures), "\n  ".join(ctx.failures)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
