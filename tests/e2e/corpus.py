#!/usr/bin/env python3
"""The corpus (issue 11, part 4): ccprof run on programs written the way production
code is (tests/corpus/), each in several build modes, bad and fixed. Bad must raise
the program's expected kind, located in the program's own source on its PROBLEM line;
fixed must not raise that kind.

usage: corpus.py BUILD_DIR [--modes O2,O0,...|all (default)] [--only mapreduce,...] [--seconds 1.5] [--keep DIR]
Prints one line per program, mode and variant, the address yield per build mode, and
closes with `N passed, N failed` (known gaps, listed below with why, are counted apart).
"""
import argparse
import os
import sys
import tempfile

import e2e_util
from matrix import Tally, problem_marked, profile, stripped_locations

# (program, the kind its bad variant must raise); its remedy is the catalog's.
CORPUS = [
    ("mapreduce", "false-sharing"),      # per-thread result structs through pointers, packed in a vector
    ("histogram", "false-sharing"),      # per-thread count rows adjacent in one allocation
    ("kv_server", "lock-contention"),    # worker pool, one global mutex around the server's stats
    ("work_stealing", "lock-contention"),  # fork-join pool on one global task deque
]
MODES = ["O2", "O0", "O3", "stripped-debug", "stripped"]
# What CI runs: every mode (4 programs x 5 modes x 2 variants, ~2.5 s each: ~2 minutes
# on a busy 2-CPU VM).
DEFAULT_MODES = MODES
# Cases ccprof does not get right yet, with why. They run and print their result;
# they count as known gaps, not as passed, and one that passes says so.
# kv_server -O0 bad was one until 2026-12-02 (read-mostly-lock in ~half the runs: the
# section calls account() out of line and its stores were rarely sampled); the section
# walk now scans the program functions a section calls for stores (critical_section.h,
# callee_writer).
KNOWN_GAPS = {}
# Cases whose bad variant's cost on a 2-CPU machine depends on the scheduler, with the
# measured why: one that fails is run again, up to MARGINAL_TRIES in all, and passes only
# if a later run does (a real regression misses every run; chance misses all three in
# about 1 of 500 at the measured 12%).
MARGINAL_TRIES = 3
MARGINAL = {
    # 4 threads on 2 CPUs: a row-boundary line costs only while the two neighbours that
    # share it run at once. Measured 2026-12-02, 2 s runs: bad 1%, 17% and 28% slower
    # than fixed; under ccprof the four threads' share on the shared lines ran 7-26%
    # roughly with the throughput (4% slower at 8%, 33% slower at 25%, but 2% at 17%);
    # with the grouping of before the main store (memory_rules.cc) the 10% floor missed
    # 9 of 72 runs of 1.5 s (12%): runs whose neighbours seldom ran together, the middle
    # two threads at 11-18% and the outer two (2 of their 16 buckets on a shared line)
    # at 2-4%.
    ("histogram", "O0", "bad"): "the false sharing costs 1-28% by how the 2 CPUs pair the 4 threads",
}


def program_path(build, program, mode):
    return os.path.join(build, "corpus", mode, program)


def module_yield(doc, program):
    """(samples touching memory, with an address) of the program's own module."""
    for m in doc.get("memory", {}).get("by_module", []):
        if os.path.basename(m.get("module") or "") == program:
            return m.get("samples_touching_memory", 0), m.get("with_address", 0)
    return 0, 0


def run_case(build, program, kind, mode, variant, seconds, out_root, yields, tag=""):
    exe = program_path(build, program, mode)
    out = os.path.join(out_root, f"{program}-{mode}-{variant}{tag}")
    env = dict(os.environ)
    env.pop("CCPROF_DEBUGINFO_PATH", None)
    if mode == "stripped-debug":
        env["CCPROF_DEBUGINFO_PATH"] = os.path.join(build, "corpus", "debug")
    cmd = [os.path.join(build, "ccprof"), "run", "-o", out, "--", exe, f"--variant={variant}", f"--seconds={seconds}"]
    doc, why = profile(cmd, out, "ccprof", env)
    if doc is None:
        return False, why
    touching, with_address = module_yield(doc, program)
    yields.setdefault(mode, [0, 0])
    yields[mode][0] += touching
    yields[mode][1] += with_address
    yield_text = f"yield {with_address}/{touching}" if touching else "no memory samples in the program"
    findings = doc.get("findings", [])
    others = ", ".join(f"{f['kind']}#{f['rank']}" for f in findings) or "none"
    hits = [f for f in findings if f.get("kind") == kind]
    if variant == "fixed":
        if hits:
            return False, f"raised {kind} (rank {hits[0]['rank']}) on the fixed variant; {yield_text}"
        return True, f"no {kind} (findings: {others}); {yield_text}"
    if not hits:
        return False, f"no {kind} finding (findings: {others}); {yield_text}"
    f = hits[0]
    locs = f.get("locations", [])
    if mode == "stripped":
        locs = stripped_locations(build, program, locs, program_path(build, program, "O2"))
    own = [l for l in locs if "tests/corpus/" in (l.get("file") or "")]
    if not own:
        return False, f"{kind} rank {f['rank']} but no location in the program's own source: " + \
            "; ".join(f"{l.get('function')} {l.get('file')}:{l.get('line')}" for l in locs[:3])
    marked = [l for l in own if problem_marked(l["file"], l["line"])]
    where = marked[0] if marked else own[0]
    where_text = f"{where['function']} {os.path.basename(where['file'])}:{where['line']}"
    if not marked:
        return False, f"{kind} rank {f['rank']} at {where_text}, not the program's PROBLEM line"
    return True, f"{kind} rank {f['rank']} at {where_text}; {yield_text}"


def main():
    build = e2e_util.build_dir()
    if os.geteuid() != 0:
        print("corpus: skipped: needs root to load BPF programs")
        return 77
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default=",".join(DEFAULT_MODES), help="comma-separated (%s) or all" % ",".join(MODES))
    ap.add_argument("--only", default="")
    ap.add_argument("--seconds", default="1.5")
    ap.add_argument("--keep", default="")
    args = ap.parse_args()
    modes = MODES if args.modes == "all" else [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(f"corpus: unknown build mode {', '.join(unknown)} (known: {', '.join(MODES)})")
        return 2
    only = {p for p in args.only.split(",") if p}
    out_root = args.keep or tempfile.mkdtemp(prefix="ccprof-corpus-")
    tally, yields = Tally(), {}
    for program, kind in CORPUS:
        if only and program not in only:
            continue
        for mode in modes:
            label = f"{program:13s} {mode:14s}"
            if not os.path.exists(program_path(build, program, mode)):
                tally.skip(label, f"corpus/{mode}/{program} not built")
                continue
            for variant in ("bad", "fixed"):
                ok, msg = run_case(build, program, kind, mode, variant, args.seconds, out_root, yields)
                marginal = MARGINAL.get((program, mode, variant))
                missed = []
                while not ok and marginal and len(missed) + 1 < MARGINAL_TRIES:
                    missed.append(msg)
                    ok, msg = run_case(build, program, kind, mode, variant, args.seconds, out_root, yields,
                                       tag=f"-try{len(missed) + 1}")
                if missed:
                    msg = f"{msg} (try {len(missed) + 1}; before: {' | '.join(missed)}; marginal: {marginal})"
                tally.add(f"{label} {variant:5s}", ok, msg, KNOWN_GAPS.get((program, mode, variant)))
    for mode in modes:
        touching, with_address = yields.get(mode, (0, 0))
        if touching:
            print(f"address yield {mode:14s} {with_address / touching:6.1%} of {touching} samples touching memory "
                  f"in the corpus programs' own code")
    return tally.report(out_root, "corpus")


if __name__ == "__main__":
    sys.exit(main())
