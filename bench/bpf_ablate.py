#!/usr/bin/env python3
"""Where the BPF time of a futex syscall goes, measured in place: ccprof built whole and
with one part of the syscall path removed at a time, side by side in one run, the order
rotated round by round (issue 13: "find where the time goes, from measurements").

    python3 bench/bpf_ablate.py BUILD_DIR [--rounds 4] [--output PATH] [--tree DIR]

The variants are built in a tree of their own (--tree, default build-ablate beside
BUILD_DIR; the first build there takes as long as a ccprof build, each variant after it
recompiles the BPF objects and relinks), through the CCPROF_BPF_DEFINES cache variable and
the CCPROF_ABLATE_* switches of bpf/sched.bpf.c. A profiler built with one of them is
wrong on purpose (no waits, no wakers or no durations): the binaries stay in that tree, and
BUILD_DIR is never touched. Each round runs every variant on futex-storm unpaced and
s01-lock-contention (`ccprof run`, 2 s each) in an order rotated round by round, and reads
the sched collector's raw sys_enter + sys_exit run time per syscall (the futex programs
they tail-call included) under BPF_ENABLE_STATS, as bench.py's "bpf" section does; the
empty programs' floor once per round. A round takes ~35 s and the host's speed drifts
within a minute (the floor moves with it): a part's cost is the whole build's figure minus
the variant's within each round, and the median of those is the figure to read. What
bench/bpf-ops measures alone (a clock read, a lookup) can cost more here, where the
target's threads move between CPUs and their state's cache lines with them. Run it on a
quiet machine. Needs root (exit 77).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = ["futex-storm unpaced", "s01-lock-contention"]
# name -> (the -D flags, what the variant leaves out)
VARIANTS = {
    "whole": ([], "nothing: the profiler as built"),
    "no wake record": (["CCPROF_ABLATE_WAKE_RECORD"], "a wake's record of its word (the last waker and when)"),
    "no waits": (["CCPROF_ABLATE_WAIT"], "the futex programs' waits (the tail call, the wait's start, "
                 "its totals and its event at the end)"),
    "no futex work": (["CCPROF_ABLATE_WAKE_RECORD", "CCPROF_ABLATE_WAIT"],
                      "both: the sched collector's syscall path alone (the target check, the thread's "
                      "state, two clock reads, the syscall's class and pending time)"),
    "no syscall clock": (["CCPROF_ABLATE_CLOCK"], "the sched collector's two clock reads per syscall"),
}


def build_variants(tree, names):
    """Configures `tree` (once) and builds ccprof there for each variant; returns name -> binary."""
    if not os.path.exists(os.path.join(tree, "build.ninja")):
        cmd = ["cmake", "-S", REPO, "-B", tree, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
        if shutil.which("ccache"):
            cmd += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    # ccache finds the objects the main build made when paths under the repository's parent
    # are hashed as relative ones and the working directory is not hashed
    env = dict(os.environ)
    env.setdefault("CCACHE_BASEDIR", os.path.dirname(REPO))
    env.setdefault("CCACHE_NOHASHDIR", "1")
    bins = {}
    try:
        for name in names:
            defines = ";".join("-D" + d for d in VARIANTS[name][0])
            subprocess.run(["cmake", f"-DCCPROF_BPF_DEFINES={defines}", tree], check=True, stdout=subprocess.DEVNULL)
            print(f"building {name} ({defines or 'no defines'}) in {tree}", flush=True)
            subprocess.run(["ninja", "-C", tree, "ccprof"], check=True, stdout=subprocess.DEVNULL, env=env)
            path = os.path.join(tree, "ccprof-" + name.replace(" ", "-"))
            shutil.copy2(os.path.join(tree, "ccprof"), path)
            bins[name] = path
    finally:
        # the tree's own ccprof is whatever variant came last: not left to be run by mistake
        subprocess.run(["cmake", "-DCCPROF_BPF_DEFINES=", tree], stdout=subprocess.DEVNULL)
        if os.path.exists(os.path.join(tree, "ccprof")):
            os.remove(os.path.join(tree, "ccprof"))
    return bins


def syscall_path_ns(ccprof, argv, tmp):
    """ccprof run -- argv: the sched collector's sys_enter + sys_exit BPF ns per syscall
    (and each program's average), or None when the programs had no run counts."""
    out = os.path.join(tmp, "out")
    run = bench.Run([ccprof, "run", "-o", out, "--"] + argv)
    last = {}
    while run.running():
        last.update(bench.bpf_prog_stats(bench.bpf_prog_ids(run.proc.pid)))
        time.sleep(0.1)
    run.wait(60)
    shutil.rmtree(out, ignore_errors=True)
    by_name = {p.get("name"): p for p in last.values()}
    enter, leave = by_name.get("sched_sys_enter"), by_name.get("sched_sys_exit")
    if run.rc != 0 or not enter or not leave or not enter.get("run_cnt"):
        return None
    n = enter["run_cnt"]
    return {"ns_per_syscall": round((enter.get("run_time_ns", 0) + leave.get("run_time_ns", 0)) / n),
            "sys_enter_avg_ns": round(enter.get("run_time_ns", 0) / n),
            "sys_exit_avg_ns": round(leave.get("run_time_ns", 0) / max(1, leave.get("run_cnt", 0))),
            "syscalls": n}


def measure(build, bins, n_rounds):
    """Every variant on every workload, `n_rounds` times, the order rotated each round;
    prints the rounds and the medians, returns (rounds, summary)."""
    ctx = bench.Ctx()
    ctx.benchdir = os.path.join(build, "bench")
    tmp = tempfile.mkdtemp(prefix="ccprof-bpf-ablate-")
    argv = {"futex-storm unpaced": [os.path.join(ctx.benchdir, "futex-storm"), "--seconds=2", "--pairs=2"],
            "s01-lock-contention": [os.path.join(build, "workloads", "s01-lock-contention"), "--seconds=2"]}
    names = list(bins)
    rounds = {n: [] for n in names}
    stats = bench.BpfStats()
    if stats.fd < 0:
        raise RuntimeError("BPF_ENABLE_STATS refused")
    try:
        for r in range(n_rounds):
            floor = bench.bpf_floor(ctx, 2).get("ns_per_syscall")
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                row = {"floor_ns_per_syscall": floor}
                for w in WORKLOADS:
                    row[w] = syscall_path_ns(bins[n], argv[w], tmp) or {"ns_per_syscall": None}
                rounds[n].append(row)
                print(f"round {r + 1} {n}: " + ", ".join(f"{w} {row[w]['ns_per_syscall']} ns" for w in WORKLOADS) +
                      f" (floor this round {floor} ns)", flush=True)
    finally:
        stats.close()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {}
    print(f"\nBPF ns per syscall, median of {n_rounds} rounds [each round]")
    for w in WORKLOADS + ["floor"]:
        for n in names:
            vals = [row["floor_ns_per_syscall"] if w == "floor" else row[w]["ns_per_syscall"] for row in rounds[n]]
            vals = [x for x in vals if x is not None]
            med = statistics.median(vals) if vals else None
            summary.setdefault(w, {})[n] = {"median_ns": med, "rounds": vals}
            if w != "floor" or n == names[0]:
                print(f"  {w:22} {n if w != 'floor' else '':18} {med} {vals}")
    return rounds, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", help="the build folder whose workloads and bench programs are run")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--output", help="JSON path")
    ap.add_argument("--tree", help="the variants' build tree (default: build-ablate beside BUILD_DIR)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bpf_ablate: skipped: needs root to load BPF programs", file=sys.stderr)
        return 77
    build = os.path.abspath(args.build)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or "whole" not in names:
        print(f"bpf_ablate: variants must include 'whole' and come from {list(VARIANTS)}; got {names}",
              file=sys.stderr)
        return 2
    tree = os.path.abspath(args.tree or os.path.join(os.path.dirname(build), "build-ablate"))
    if tree == build:
        print("bpf_ablate: --tree must not be the build folder", file=sys.stderr)
        return 2
    try:
        bins = build_variants(tree, names)
    except subprocess.CalledProcessError as e:
        print(f"bpf_ablate: building the variants failed: {e}", file=sys.stderr)
        return 1
    os.environ["CCPROF_BENCH_ABLATED"] = "1"  # the agent refuses an ablated build without it
    try:
        rounds, summary = measure(build, bins, args.rounds)
    except RuntimeError as e:
        print(f"bpf_ablate: {e}", file=sys.stderr)
        return 1
    parts = {}
    print("\nWhat each part costs, ns per syscall: the whole build's figure minus the variant's, "
          "per round, median [rounds]")
    for name in names:
        if name == "whole":
            continue
        parts[name] = {"leaves_out": VARIANTS[name][1]}
        for w in WORKLOADS:
            diffs = [a[w]["ns_per_syscall"] - b[w]["ns_per_syscall"] for a, b in zip(rounds["whole"], rounds[name])
                     if a[w]["ns_per_syscall"] is not None and b[w]["ns_per_syscall"] is not None]
            parts[name][w] = {"median_ns": statistics.median(diffs) if diffs else None, "rounds": diffs}
            print(f"  {name:18} {w:22} {parts[name][w]['median_ns']} {diffs}")
    bench.save_results(args.output, build,
                       variants={n: {"defines": VARIANTS[n][0], "leaves_out": VARIANTS[n][1]} for n in names},
                       rounds=rounds, summary=summary, parts=parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
