#!/usr/bin/env python3
"""Predicted gain vs measured gain (issue 16, part 3), per scenario of the matrix.

    python3 bench/predicted_vs_measured.py BUILD_DIR [--only 1,12] [--runs 3] [--seconds 2]
                                                     [--output PATH] [--quick]

For each scenario (tests/e2e/matrix.py's WORKLOADS: the 14 of SCENARIOS.md and s15):
  measured   the bad and the fixed workload run unprofiled, alternately, `--runs` times
             each; each run's own `throughput=<n>` line (the same metric for both variants,
             tests/workloads/common.h); measured gain = median(fixed) / median(bad).
             s06 runs at the largest thread count of the matrix's scale study (16), the
             count its finding describes.
  predicted  the bad variant profiled exactly as the matrix does (its run_case /
             run_scale_case); the finding of the scenario's kind carries
             `predicted_gain {low, high, model, inputs}` (profiler/predicted_gain.cc).
Prints `scenario · predicted · measured · inside?` with the error (how far the measured
gain is outside the range, as a ratio; 0 inside) and writes the rows as JSON.

`--quick` (CI): scenarios 1, 12 and 13, one 2 s run each (the matrix's length, at which it
raises their findings); asserts only that each bad profile's finding carries a
well-formed prediction (low <= high, a model, its inputs), never a timing.
Needs root (exit 77 otherwise, which ctest reports as skipped).
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)
import matrix  # noqa: E402  (the scenarios, their kinds, and how they are profiled)
from bench import throughput_of, machine_info, loadavg  # noqa: E402

QUICK_SCENARIOS = [1, 12, 13]


def variant_argv(build, scenario, workload, variant, seconds):
    argv = [matrix.workload_path(build, workload), f"--variant={variant}", f"--seconds={seconds}"]
    if scenario == matrix.SCALE_SCENARIO:
        argv.append(f"--threads={max(int(n) for n in matrix.SCALE_THREADS.split(','))}")
    return argv


def throughput(argv, seconds):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60 + 4 * seconds)
    return throughput_of(p.stdout) if p.returncode == 0 else None


def measure(build, scenario, workload, runs, seconds):
    """(median bad, median fixed, all runs) of the workload's own throughput, unprofiled."""
    got = {"bad": [], "fixed": []}
    for _ in range(runs):
        for variant in ("bad", "fixed"):
            t = throughput(variant_argv(build, scenario, workload, variant, seconds), seconds)
            if t is not None:
                got[variant].append(t)
    if not got["bad"] or not got["fixed"]:
        return None, None, got
    return statistics.median(got["bad"]), statistics.median(got["fixed"]), got


def predict(build, scenario, workload, kind, remedy, seconds, out_root):
    """The prediction of the bad variant's finding of `kind`, profiled as the matrix does."""
    case = matrix.run_scale_case if scenario == matrix.SCALE_SCENARIO else matrix.run_case
    ok, msg = case(build, scenario, workload, kind, remedy, "bad", seconds, out_root)
    path = os.path.join(out_root, f"{matrix.case_name(scenario, workload)}-bad", "findings.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None, f"no findings.json ({msg})"
    hits = [f for f in doc.get("findings", []) if f.get("kind") == kind]
    if not hits:
        return None, f"no {kind} finding ({msg})"
    return hits[0], None


def well_formed(pg):
    """Why a finding's predicted_gain is malformed, or None."""
    if not isinstance(pg, dict) or not isinstance(pg.get("model"), str) or not isinstance(pg.get("inputs"), dict):
        return "no predicted_gain {model, inputs}"
    low, high = pg.get("low"), pg.get("high")
    if low is None and high is None:
        return None if pg.get("reason") else "no prediction and no reason"
    if not all(isinstance(x, (int, float)) for x in (low, high)) or not 1 <= low <= high:
        return f"range {low}..{high} is not 1 <= low <= high"
    return None


def row_text(r):
    pg = r.get("predicted") or {}
    pred = (f"x{pg['low']:.2f}-{pg['high']:.2f} ({pg['model']})" if pg.get("low") is not None
            else f"none: {pg.get('reason', r.get('why', '?'))}")
    meas = f"x{r['measured']:.2f}" if r.get("measured") is not None else "n/a"
    inside = {True: "yes", False: "no", None: "-"}[r.get("inside")]
    err = f"{r['error']:.2f}" if r.get("error") is not None else "-"
    return f"s{r['scenario']:02d} {r['kind']:26s} · {pred:48s} · {meas:8s} · {inside:3s} · err {err}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--only", default="")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", default="2")
    ap.add_argument("--output", default="")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("predicted_vs_measured: skipped: needs root to load BPF programs")
        return 77
    only = {int(x) for x in args.only.split(",") if x} or (set(QUICK_SCENARIOS) if args.quick else set())
    runs, seconds = (1, "2") if args.quick else (args.runs, args.seconds)
    out_root = tempfile.mkdtemp(prefix="ccprof-gain-")
    rows, problems = [], []
    for scenario, workload, kind, remedy in matrix.load_matrix(args.build):
        if (scenario, workload) in matrix.LIBRARY_WORKLOADS or (only and scenario not in only):
            continue
        if not os.path.exists(matrix.workload_path(args.build, workload)):
            problems.append(f"s{scenario:02d}: workload {workload} not built")
            continue
        row = {"scenario": scenario, "workload": workload, "kind": kind, "load_before": loadavg()}
        bad, fixed, got = measure(args.build, scenario, workload, runs, float(seconds))
        row.update({"throughput_bad": got["bad"], "throughput_fixed": got["fixed"],
                    "measured": fixed / bad if bad else None})
        finding, why = predict(args.build, scenario, workload, kind, remedy, seconds, out_root)
        row["why"] = why
        if finding:
            pg = finding.get("predicted_gain")
            row["predicted"] = pg
            bad_form = well_formed(pg)
            if bad_form:
                problems.append(f"s{scenario:02d}: {bad_form}")
            elif pg.get("low") is not None and row["measured"] is not None:
                m = row["measured"]
                row["inside"] = pg["low"] <= m <= pg["high"]
                row["error"] = 0.0 if row["inside"] else (pg["low"] / m - 1 if m < pg["low"] else m / pg["high"] - 1)
        elif args.quick:
            problems.append(f"s{scenario:02d}: {why}")
        row.setdefault("inside", None)
        row.setdefault("error", None)
        row["load_after"] = loadavg()
        rows.append(row)
        print(row_text(row), flush=True)
    predicted = [r for r in rows if r["inside"] is not None]
    inside = sum(1 for r in predicted if r["inside"])
    print(f"predicted_vs_measured: {inside} of {len(rows)} scenarios inside the predicted range "
          f"({len(predicted)} with a prediction and a measurement); outputs in {out_root}")
    for p in problems:
        print("problem:", p)
    if args.output or not args.quick:
        path = args.output or os.path.join(HERE, "results", f"{datetime.date.today()}-predicted-vs-measured.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"machine": machine_info(args.build), "runs": runs, "seconds": seconds, "rows": rows,
                       "inside": inside, "scenarios": len(rows)}, f, indent=1)
        print(f"results in {path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
