#!/usr/bin/env python3
"""What the agent's drain thread spends per memory sample and per stack copy while
profiling (issue 13), for one build or two side by side in one run (the second a
baseline, e.g. the previous commit built elsewhere), alternated round by round:

    python3 bench/drain_cost.py BUILD_DIR [--baseline OTHER_BUILD_DIR] [--rounds 3]
                                          [--seconds 3] [--output PATH]

Each run is `ccprof -v run` (decode sampler, default rate) of a workload: bench's
cpu-bound (-O2, variables in registers) and the corpus's mapreduce built -O0 and -O2
(the -O0 build keeps its pointers in stack slots, which is where naming an access reads
the sample's stack). The drain thread's CPU comes from ccprof's own debug line (thread
CPU time around its work: unwinding stack copies, trimming memory samples' stack windows
to the words the analysis reads), the sample count from findings.json, and ccprof's own
CPU in all (its process's, not the target's: /proc/PID/stat polled until it exits, so
the analysis and writing are in it too). Run it on a quiet machine. Needs root (exit 77
otherwise).
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LINE = re.compile(r"stacks: (\d+) copies unwound into \d+ distinct stacks in ([0-9.]+) s of CPU .*"
                  r"memory samples' stack windows trimmed in ([0-9.]+) s of CPU")


def own_cpu_s(pid):
    """utime + stime of `pid` itself (not its children), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def one_run(ccprof, target, out):
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.Popen([ccprof, "-v", "run", "-o", out, "--"] + target, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    cpu = None
    while p.poll() is None:
        c = own_cpu_s(p.pid)
        cpu = c if c is not None else cpu
        time.sleep(0.01)
    stdout, stderr = p.communicate()
    m = LINE.search(stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(target)}: rc={p.returncode}, no drain line: {stderr[-400:]}")
    with open(os.path.join(out, "findings.json")) as f:
        doc = json.load(f)
    samples = doc.get("samples", {}).get("memory_samples", 0)
    copies, unwind_s, trim_s = int(m.group(1)), float(m.group(2)), float(m.group(3))
    thr = re.search(r"throughput=([0-9.e+]+)", stdout)
    return {"memory_samples": samples, "stack_copies": copies, "unwind_cpu_s": unwind_s, "trim_cpu_s": trim_s,
            "trim_us_per_sample": round(trim_s * 1e6 / samples, 2) if samples else None,
            "ccprof_cpu_s": cpu, "throughput": float(thr.group(1)) if thr else None}


def main():
    if os.geteuid() != 0:
        print("drain_cost: skipped: needs root to load BPF programs")
        return 77
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--baseline", default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--output", default="")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    builds = {"this": build}
    if args.baseline:
        builds["baseline"] = os.path.abspath(args.baseline)
    secs = f"--seconds={args.seconds:g}"
    # The workloads are this build's, so both ccprofs profile the same binaries.
    workloads = {
        "cpu-bound -O2": [os.path.join(build, "bench", "cpu-bound"), secs],
        "mapreduce -O0": [os.path.join(build, "corpus", "O0", "mapreduce"), "--variant=bad", secs],
        "mapreduce -O2": [os.path.join(build, "corpus", "O2", "mapreduce"), "--variant=bad", secs],
    }
    for name, argv in workloads.items():
        if not os.path.exists(argv[0]):
            print(f"drain_cost: {name}: {argv[0]} is not built", file=sys.stderr)
            return 1
    scratch = tempfile.mkdtemp(prefix="ccprof-drain-cost-")
    runs = {(w, b): [] for w in workloads for b in builds}
    try:
        for rnd in range(args.rounds):
            for w, argv in workloads.items():
                for b, d in builds.items():
                    r = one_run(os.path.join(d, "ccprof"), argv, os.path.join(scratch, "out"))
                    runs[(w, b)].append(r)
                    print(f"round {rnd + 1} {w:14} {b:8}: {r['memory_samples']:5} samples, "
                          f"trim {r['trim_us_per_sample']} us/sample, {r['stack_copies']} stack copies in "
                          f"{r['unwind_cpu_s']:.3f} s, ccprof CPU {r['ccprof_cpu_s']} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def med(xs):
        xs = [x for x in xs if x is not None]
        return round(statistics.median(xs), 3) if xs else None

    summary = []
    print(f"\nmedian of {args.rounds} rounds, {args.seconds:g} s each (drain thread's CPU per memory sample, "
          "ccprof's own CPU in all)")
    print(f"{'workload':16}" + "".join(f"{b + ' us/sample':>22}{b + ' ccprof CPU s':>24}" for b in builds))
    for w in workloads:
        row = {"workload": w}
        line = f"{w:16}"
        for b in builds:
            rs = runs[(w, b)]
            row[b] = {"trim_us_per_sample": med([r["trim_us_per_sample"] for r in rs]),
                      "ccprof_cpu_s": med([r["ccprof_cpu_s"] for r in rs]),
                      "memory_samples": med([r["memory_samples"] for r in rs]),
                      "unwind_cpu_s": med([r["unwind_cpu_s"] for r in rs]),
                      "throughput": med([r["throughput"] for r in rs])}
            line += f"{row[b]['trim_us_per_sample']!s:>22}{row[b]['ccprof_cpu_s']!s:>24}"
        summary.append(row)
        print(line)
    if args.output:
        git = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "git": git, "cpus": os.cpu_count(), "rounds": args.rounds, "seconds": args.seconds,
               "builds": builds, "summary": summary,
               "runs": [{"workload": w, "build": b, **r} for (w, b), rs in runs.items() for r in rs]}
        with open(args.output, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
