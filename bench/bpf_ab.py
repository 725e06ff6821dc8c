#!/usr/bin/env python3
"""BPF run time per syscall of ccprof's syscall path, for this build and a baseline ccprof
side by side in one run, alternated round by round (issue 13: "BPF time per futex syscall"):

    python3 bench/bpf_ab.py BUILD_DIR --baseline OTHER_CCPROF [--rounds 4] [--output PATH]

Each round runs bench.py's "bpf" section (futex-storm unpaced, s01-lock-contention and
cpu-bound under `ccprof run`, every program's run time from BPF_ENABLE_STATS, plus the
empty programs' floor and bench/bpf-ops's per-step costs) once with each ccprof, the
order swapped every round. The per-syscall figure is the sched collector's raw
sys_enter + sys_exit run time (the futex programs they tail-call included) over the
syscall count. The workloads come from BUILD_DIR for both. The host under the 2-vCPU VM
changes speed from minute to minute (the empty programs' floor moves with it): read the
medians, and the rounds, not one run. Run it on a quiet machine. Needs root (exit 77).
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

WORKLOADS = ["futex-storm unpaced", "s01-lock-contention", "cpu-bound"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", help="the build folder (its ccprof, bench/ and workloads/)")
    ap.add_argument("--baseline", required=True, help="the baseline's ccprof binary")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--output", help="JSON path")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bpf_ab: skipped: needs root to load BPF programs", file=sys.stderr)
        return 77
    build = os.path.abspath(args.build)
    variants = {"baseline": os.path.abspath(args.baseline), "this build": os.path.join(build, "ccprof")}
    for path in variants.values():
        if not os.access(path, os.X_OK):
            print(f"bpf_ab: {path} is not an executable", file=sys.stderr)
            return 1
    ctx = bench.Ctx()
    ctx.quick = False
    ctx.workloads = os.path.join(build, "workloads")
    ctx.benchdir = os.path.join(build, "bench")
    ctx.tmp = tempfile.mkdtemp(prefix="ccprof-bpf-ab-")
    rounds = {v: [] for v in variants}
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for v in order:
            ctx.ccprof = variants[v]
            out = bench.bpf_cost(ctx)
            row = {"floor_ns_per_syscall": out.get("floor (empty programs)", {}).get("ns_per_syscall")}
            for name in WORKLOADS:
                w = out.get(name, {})
                by_name = {p["name"]: p for p in w.get("programs", [])}
                row[name] = {"ns_per_syscall": w.get("syscall_path_ns_per_syscall"),
                             "sys_enter_avg_ns": by_name.get("sched_sys_enter", {}).get("avg_ns"),
                             "sys_exit_avg_ns": by_name.get("sched_sys_exit", {}).get("avg_ns"),
                             "sched_switch_avg_ns": by_name.get("sched_switch", {}).get("avg_ns"),
                             "total_bpf_s": w.get("total_bpf_s")}
            rounds[v].append(row)
            print(f"round {r + 1} {v}: " + ", ".join(f"{n} {row[n]['ns_per_syscall']} ns" for n in WORKLOADS) +
                  f" (floor {row['floor_ns_per_syscall']} ns)", flush=True)
    summary = {}
    print(f"\nBPF ns per syscall, median of {args.rounds} rounds [each round]")
    print(f"{'workload':24} " + " ".join(f"{v:>30}" for v in variants))
    for name in WORKLOADS + ["floor"]:
        cells = []
        for v in variants:
            vals = [row["floor_ns_per_syscall"] if name == "floor" else row[name]["ns_per_syscall"] for row in rounds[v]]
            vals = [x for x in vals if x is not None]
            med = statistics.median(vals) if vals else None
            summary.setdefault(name, {})[v] = {"median_ns": med, "rounds": vals}
            cells.append(f"{med} {vals}")
        print(f"{name:24} " + " ".join(f"{c:>30}" for c in cells))
    bench.save_results(args.output, build, variants=variants, rounds=rounds, summary=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
