#!/usr/bin/env python3
"""What the memory sampler's rate costs a CPU-bound program (issue 13), side by side in one
run: bench/cpu-bound unprofiled, and under `ccprof run` on the scheduler tick
(--sampler-clock tick), at each timer rate (--sample-hz) and with the sampler off, and
with --baseline another ccprof build at its default settings beside this one's ("default"),
alternated round by round.

    python3 bench/sampler_rate.py BUILD_DIR [--rates 499,997,4999] [--rounds 8]
                                            [--seconds 3] [--baseline CCPROF] [--seed N]
                                            [--output PATH]

Each round runs every mode once, in an order shuffled per round (a fixed order charged the
host's drift within a round to the modes that came last: `off`, always last, once read
2.1% against the tick's 1.1%); the host's speed drifts between rounds on a shared VM, so
each mode's loss is given both against the median base and paired (each run against its
own round's base run, then the median). The per-sample
cost is read from the highest rate against `off`: (loss difference x CPUs) / (rate x CPUs)
seconds per sample. Run it on a quiet machine: nothing else may use the CPUs.
Needs root (exit 77 otherwise).
"""
import argparse
import datetime
import json
import random
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile


def throughput(out):
    m = re.search(r"throughput=([0-9.e+]+)", out)
    if not m:
        raise RuntimeError("no throughput= line in: " + out[-300:])
    return float(m.group(1))


def main():
    if os.geteuid() != 0:
        print("sampler_rate: skipped: needs root to load BPF programs")
        return 77
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rates", default="499,997,4999")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--baseline", default="", help="another ccprof binary, run at its default settings")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", default="")
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r]
    build = os.path.abspath(args.build)
    ccprof, workload = os.path.join(build, "ccprof"), os.path.join(build, "bench", "cpu-bound")
    modes = ["base", "tick"] + [str(r) for r in rates] + ["off"]
    if args.baseline:
        modes += ["default", "baseline"]
    rng = random.Random(args.seed)
    orders = []
    runs = {m: [] for m in modes}
    scratch = tempfile.mkdtemp(prefix="ccprof-sampler-rate-")
    tick_sampler = ""  # what the tick run sampled with, from its findings.json
    try:
        for rnd in range(args.rounds):
            order = modes[:]
            rng.shuffle(order)
            orders.append(order)
            for m in order:
                cmd = [workload, f"--seconds={args.seconds:g}"]
                if m != "base":
                    out = os.path.join(scratch, "out")
                    shutil.rmtree(out, ignore_errors=True)
                    extra = (["--sampler", "off"] if m == "off" else ["--sampler-clock", "tick"] if m == "tick"
                             else [] if m in ("default", "baseline") else ["--sample-hz", m])
                    binary = os.path.abspath(args.baseline) if m == "baseline" else ccprof
                    cmd = [binary, "run", "-o", out, *extra, "--", *cmd]
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
                if p.returncode != 0:
                    print(f"sampler_rate: {m} round {rnd} exited {p.returncode}: {p.stderr[-300:]}")
                    return 1
                runs[m].append(throughput(p.stdout))
                if m == "tick" and not tick_sampler:
                    with open(os.path.join(out, "findings.json")) as f:
                        ms = json.load(f)["profile"]["memory_sampler"]
                    tick_sampler = f"{ms['mode']} {','.join(ms.get('events', []))} {ms['frequency_hz']} Hz"
                print(f"  round {rnd} {m:>8s} throughput={runs[m][-1]:.4g}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = statistics.median(runs["base"])
    rows = {}
    print(f"\nbench/cpu-bound, {args.rounds} rounds of {args.seconds:g} s, {os.cpu_count()} CPUs")
    print(f"{'mode':>36s}  {'loss vs median base':>20s}  {'paired loss':>12s}")
    for m in modes[1:]:
        loss = 100 * (1 - statistics.median(runs[m]) / base)
        paired = 100 * (1 - statistics.median(a / b for a, b in zip(runs[m], runs["base"])))
        label = ("sampler off" if m == "off" else f"tick ({tick_sampler})" if m == "tick"
                 else "this build, default settings" if m == "default"
                 else "--baseline, default settings" if m == "baseline" else f"{m} Hz per CPU (timer)")
        rows[m] = {"loss_pct": round(loss, 2), "paired_loss_pct": round(paired, 2)}
        print(f"{label:>36s}  {loss:>19.2f}%  {paired:>11.2f}%")
    top = str(max(rates))
    per_sample_us = (rows[top]["paired_loss_pct"] - rows["off"]["paired_loss_pct"]) / 100 / max(rates) * 1e6
    print(f"per sample (from {top} Hz against off): ~{per_sample_us:.1f} us of the target's CPU")
    doc = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
           "rounds": args.rounds, "seconds": args.seconds, "throughput": runs, "base_median": base,
           "modes": rows, "tick_sampler": tick_sampler, "per_sample_us": round(per_sample_us, 1),
           "orders": orders, "seed": args.seed, "baseline": os.path.abspath(args.baseline) if args.baseline else ""}
    output = args.output or os.path.join(os.path.dirname(__file__), "results",
                                         f"{datetime.date.today()}-sampler-rate.json")
    with open(output + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(output + ".tmp", output)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
