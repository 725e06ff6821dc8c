#!/usr/bin/env python3
"""The scenario matrix (../shared/SCENARIOS.md): ccprof run on each workload's bad and
fixed variant. Bad must raise the scenario's kind, ranked first or second, located at
the workload's own source, with the scenario's remedy; fixed must not raise that kind.

Each pair whose two runs wrote findings.json is then checked with `ccprof diff`.

usage: matrix.py BUILD_DIR [--only 1,3,12] [--seconds 2] [--keep DIR] [--variants MODES|all]
Prints one line per scenario and variant and closes with `N passed, N failed`.
Scenarios whose workload is not built, or whose detection is not implemented in this
ccprof yet (see IMPLEMENTED), are listed as skipped, never counted as passed."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

# (scenario, workload); each scenario's kind and remedy come from ccprof's own catalog
# (`ccprof catalog`, profiler/catalog.json), so the matrix cannot drift from the rules.
WORKLOADS = [
    (1, "s01-lock-contention"),
    (2, "s02-read-mostly-lock"),
    (3, "s03-false-sharing"),
    (4, "s04-lock-for-single-word"),
    (5, "s05-pool-saturated-io"),
    (6, "s06-retrograde-scaling"),
    (7, "s07-per-item-synchronization"),
    (8, "s08-thread-churn"),
    (9, "s09-gil-contention.py"),
    (10, "s10-unbounded-queue"),
    (11, "s11-cas-retry-storm"),
    (12, "s12-hot-atomic"),
    (13, "s13-lock-held-across-io"),
    (14, "s14-handoff-stall"),
    (15, "s15-lock-order-inversion"),  # beyond the seed's 14: issue 16
]
# The same scenarios written with other lock libraries (issue 17): each must be found on
# the library's lock, at the workload's line, like the glibc one. Their outputs and
# lines are named after the workload, not sNN.
LIBRARY_WORKLOADS = [
    (1, "s01-absl-mutex"),
    (2, "s02-absl-mutex"),
    (1, "s01-rust-std-mutex"),  # built only where Debian's cargo is (skipped otherwise)
    (1, "s01-rust-parking-lot"),  # idem
    (2, "s02-rust-std-rwlock"),  # idem; bad: a std Mutex<Config>, fixed: a std RwLock<Config>
    (2, "s02-rust-parking-lot-rwlock"),  # idem; bad: a parking_lot Mutex<Config>, fixed: its RwLock
    (1, "s01-tbb-mutex"),  # built only where Debian's libtbb-dev is
    (1, "s01-tbb-spin-mutex"),  # idem; its lock by the word its inlined lock() exchanges
    (1, "s01-program-spinlock"),  # the program's own atomic_flag spin lock: by its samples spinning
]

# The same scenarios across worker processes over a shared-memory segment (issue 15):
# each process maps the mutex / the line at its own address, and the finding must be
# on one lock / one line used by every process.
PROCESS_WORKLOADS = [
    (1, "s01-process-shared-mutex"),
    (3, "s03-process-shared-line"),
]
# Workloads beyond the one per scenario: named after themselves, not sNN.
EXTRA_WORKLOADS = LIBRARY_WORKLOADS + PROCESS_WORKLOADS
# The lock's name each lock-library bad variant's finding must carry: globals by their
# symbol (a Rust lock as the program's static, not its futex word's member path), heap
# locks by the DWARF type of the variable their lock call's argument is in.
LOCK_NAMES = {
    "s01-rust-std-mutex": "Mutex<HashMap<String, u64, RandomState>> (via table)",
    "s01-rust-parking-lot": "Mutex<RawMutex, Table> (via table)",
    "s02-rust-std-rwlock": "s02_rust_std_rwlock::CONFIG_MUTEX",
    "s02-rust-parking-lot-rwlock": "s02_rust_parking_lot_rwlock::CONFIG_MUTEX",
}
# Lock-library workloads that are built and checked by tests/e2e/lock_libraries_test.py
# but are not matrix cases yet, with why (parking_lot and tbb::mutex joined the matrix
# with issue 17's section walk and site-charged yields; tbb::spin_mutex with the static
# decode of its exchange, lock_code.h).
LIBRARY_GAPS = {}


def case_name(scenario, workload):
    return workload if (scenario, workload) in EXTRA_WORKLOADS else f"s{scenario:02d}"


def load_matrix(build):
    """(scenario, workload, kind, remedy) for each scenario, from `ccprof catalog`."""
    out = subprocess.run([os.path.join(build, "ccprof"), "catalog"], stdout=subprocess.PIPE, text=True, check=True).stdout
    by_scenario = {k["scenario"]: k for k in json.loads(out)["kinds"] if k["scenario"] > 0}
    return [(n, w, by_scenario[n]["kind"], by_scenario[n]["remedy_kind"]) for n, w in WORKLOADS + EXTRA_WORKLOADS]


# The build-variant matrix: the memory scenarios plus 1 and 13 (all 13 C++ scenarios in
# all four modes would add ~15 minutes to CI on 2 cores).
VARIANT_SCENARIOS = {1, 2, 3, 4, 11, 12, 13}
VARIANT_MODES = ["O0", "O3", "stripped-debug", "stripped"]
# Cases ccprof does not diagnose yet, with why (issue 11). They still run and print
# their result; they count as `known gaps`, not as passed, and one that starts to
# pass says so (remove it here then).
KNOWN_GAPS = {}
# Cases that need a longer run than --seconds for the rule to have its evidence on a busy
# 2-CPU VM. s02 at -O0: the reader's loop counters live in stack slots, so ~7% of its
# samples are accesses to shared data inside the section (45% at -O2); read-mostly-lock
# wants 20 of them (thresholds.h), and a 2 s run on a loaded VM had 11 to 35.
VARIANT_SECONDS = {(2, "O0"): 5}


# Scenarios whose detection this ccprof implements (grows as collectors land).
IMPLEMENTED = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}


# Bad variants whose finding must carry the lock's measured critical sections, and the
# shortest p50 hold each workload's own code implies (s13 holds the lock over a 2 ms
# poll() on every miss).
# (glibc's pthread mutexes only: the hold probes are on pthread_mutex_lock/unlock, so the
# lock-library workloads, absl::Mutex for one, have no measured critical sections.)
HOLD_SCENARIOS = {1, 2, 4, 7, 13}
HOLD_MIN_P50_S = {13: 0.001}  # a millisecond: far above a map update, below the ~2 ms poll()
# The function whose acquisitions hold the lock, which the holders' stacks (copied at a
# sample of acquisitions, bpf/lockrate.h) must contain. s13's is the one that then does
# the I/O under the lock: a stack taken at the acquisition cannot contain the I/O call
# itself, made later in the hold (the wait-for chains name it).
HOLDER_FUNCTION = {1: "count_word_shared", 13: "get_holding_lock"}


def problem_marked(path, line, slack=2):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    lo, hi = max(0, line - 1 - slack), min(len(lines), line + slack)
    return any("PROBLEM" in l for l in lines[lo:hi])


def profile(cmd, out, what, env=None):
    """Runs a ccprof command; (findings document, None) or (None, why it failed)."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        return None, f"{what} timed out"
    if p.returncode != 0:
        return None, f"{what} exited {p.returncode}: {p.stderr.strip()[-300:]}"
    try:
        with open(os.path.join(out, "findings.json")) as f:
            return json.load(f), None
    except (OSError, ValueError) as e:
        return None, f"no readable findings.json: {e}"


def workload_path(build, workload, mode=None):
    return os.path.join(build, "workloads", mode, workload) if mode else os.path.join(build, "workloads", workload)


def stripped_locations(build, workload, locs, unstripped=None):
    """Locations in a stripped workload without debug info are `module+0xOFFSET`: turn
    them into file:line with addr2line on the unstripped -O2 build (the same code;
    `unstripped` names it where it is not the scenario workload's)."""
    out = []
    for l in locs:
        m = re.search(r"\+0x([0-9a-f]+)$", l.get("function") or "")
        if not m or os.path.basename(l.get("module") or "") != workload:
            continue
        # -i: the inline chain, innermost first (an inlined std::atomic member names the
        # header first, then the workload's line that called it).
        p = subprocess.run(["addr2line", "-i", "-e", unstripped or workload_path(build, workload), "0x" + m.group(1)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for where in p.stdout.splitlines():
            where = where.strip().split(" ")[0]
            if ":" in where:
                path, line = where.rsplit(":", 1)
                if line.isdigit():
                    out.append({"function": l["function"], "file": path, "line": int(line)})
    return out


def run_case(build, scenario, workload, kind, remedy, variant, seconds, out_root, mode=None):
    exe = workload_path(build, workload, mode)
    out = os.path.join(out_root, f"{case_name(scenario, workload)}-{mode + '-' if mode else ''}{variant}")
    cmd = [os.path.join(build, "ccprof"), "run", "-o", out, "--", exe, f"--variant={variant}", f"--seconds={seconds}"]
    env = dict(os.environ)
    env.pop("CCPROF_DEBUGINFO_PATH", None)
    if mode == "stripped-debug":
        env["CCPROF_DEBUGINFO_PATH"] = os.path.abspath(os.path.join(build, "workloads", "debug"))
    doc, why = profile(cmd, out, "ccprof", env)
    if doc is None:
        return False, why
    findings = doc.get("findings", [])
    hits = [f for f in findings if f.get("kind") == kind]
    if variant == "fixed":
        if hits:
            f = hits[0]
            return False, f"raised {kind} (rank {f['rank']}, cost {f['cost']['thread_seconds']:.3f} thr-s) on the fixed variant"
        others = ", ".join(f"{f['kind']}#{f['rank']}" for f in findings) or "none"
        return True, f"no {kind} (findings: {others})"
    if not hits:
        others = ", ".join(f"{f['kind']}#{f['rank']}" for f in findings) or "none"
        return False, f"no {kind} finding (findings: {others})"
    f = hits[0]
    problems = []
    if f["rank"] > 2:
        problems.append(f"ranked {f['rank']}, not 1 or 2")
    if f.get("remedy", {}).get("kind") != remedy:
        problems.append(f"remedy {f.get('remedy', {}).get('kind')} instead of {remedy}")
    locs = f.get("locations", [])
    if mode == "stripped":
        locs = stripped_locations(build, workload, locs)
    own = [l for l in locs if "tests/workloads/" in (l.get("file") or "")]
    python = workload.endswith(".py")
    if python:
        # The Python frames read at the GIL waits (CPython 3.11): the script's own lines.
        own = [l for l in locs if os.path.basename(l.get("file") or "") == workload and (l.get("line") or 0) > 0]
    if not own:
        problems.append("no location in the workload's own source: " +
                        "; ".join(f"{l.get('function')} {l.get('file')}:{l.get('line')}" for l in locs[:3]))
    where = f"{own[0]['function']} {os.path.basename(own[0]['file'])}:{own[0]['line']}" if own else "?"
    # The workloads mark the problem's own line with a `PROBLEM` comment: one of the
    # finding's locations in the workload must be on it (or within 2 lines of it).
    if python and own and not own[0].get("function"):
        problems.append(f"{where}: the Python location names no function")
    if own and not any(problem_marked(l["file"], l["line"]) for l in own):
        problems.append(f"{where} is not the workload's PROBLEM line")
    hold = f.get("evidence", {}).get("hold")
    if scenario in HOLD_SCENARIOS and mode is None and (scenario, workload) not in EXTRA_WORKLOADS:
        # The lock's critical sections, timed by the lock-rate uprobe windows (issue 16).
        if not hold or not hold.get("holds"):
            problems.append("no measured critical sections (evidence.hold)")
        elif scenario in HOLD_MIN_P50_S and hold["sites"] and hold["sites"][0]["p50_s"] < HOLD_MIN_P50_S[scenario]:
            problems.append(f"hold p50 {hold['sites'][0]['p50_s'] * 1e3:.2f} ms is shorter than the workload's "
                            f"{HOLD_MIN_P50_S[scenario] * 1e3:.1f} ms under the lock")
        if scenario in HOLDER_FUNCTION and hold and hold.get("holds"):
            holders = hold.get("holders") or {}
            lock = (f.get("subject") or {}).get("address")
            rows = [r for r in doc.get("holder_stacks", []) if r.get("lock") == lock]
            fn = HOLDER_FUNCTION[scenario]
            if not holders.get("sampled_holds"):
                problems.append("no holder stacks sampled (evidence.hold.holders)")
            elif not any(any(fn in fr for fr in r.get("frames", [])) for r in rows):
                problems.append(f"no holding stack of the lock contains {fn} ({len(rows)} stacks)")
    name = (f.get("subject") or {}).get("name")
    if mode is None and workload in LOCK_NAMES and name != LOCK_NAMES[workload]:
        problems.append(f"the lock is named {name!r}, not {LOCK_NAMES[workload]!r}")
    if (scenario, workload) in PROCESS_WORKLOADS:
        ev = f.get("evidence", {})
        procs = (ev.get("lock") or ev.get("cache_line") or {}).get("processes", [])
        if len(procs) < 2:
            problems.append(f"the shared object is seen by {len(procs)} process(es), not by every worker")
    if problems:
        return False, "; ".join(problems)
    held = f", held p50 {hold['p50_s'] * 1e6:.1f} us over {hold['holds']} holds" if hold and hold.get("holds") else ""
    named = f", lock {name}" if workload in LOCK_NAMES else ""
    return True, f"{kind} rank {f['rank']} at {where}, remedy {remedy}{held}{named}"


# ---- scenario 6: `ccprof scale` instead of `ccprof run` ---------------------------------
# The retrograde region is a property of throughput across thread counts, so this case
# runs `ccprof scale` over 1..16 threads (3 runs each, the workload's own throughput line)
# instead of profiling one run. Short runs keep both variants under ~60 s on 2 cores:
# 5 thread counts x 3 runs x 0.4 s, plus one profiled run at 16 threads for the bad one.
SCALE_SCENARIO = 6
SCALE_THREADS = "1,2,4,8,16"
SCALE_RUNS = "3"
SCALE_SECONDS = "0.4"


def run_scale_case(build, scenario, workload, kind, remedy, variant, seconds, out_root):
    exe = os.path.join(build, "workloads", workload)
    out = os.path.join(out_root, f"s{scenario:02d}-{variant}")
    cmd = [os.path.join(build, "ccprof"), "scale", "-o", out, "--threads", SCALE_THREADS, "--runs", SCALE_RUNS,
           "--metric", r"throughput=([0-9.]+)", "--", exe, f"--variant={variant}", "--threads={threads}",
           f"--seconds={SCALE_SECONDS}"]
    doc, why = profile(cmd, out, "ccprof scale")
    if doc is None:
        return False, why
    if not os.path.exists(os.path.join(out, "scaling.svg")):
        return False, "no scaling.svg"
    table = doc.get("scale", {})
    fit, verdict = table.get("fit", {}), table.get("retrograde", {})
    curve = ", ".join(f"{p['threads']}:{p['throughput'] / 1e6:.2f}M" for p in table.get("points", []))
    peak = fit.get("peak_n")
    summary = (f"alpha={fit.get('alpha', 0):.3g} beta={fit.get('beta', 0):.3g} R2={fit.get('r2', 0):.2f} "
               f"peak N*={'none' if peak is None else f'{peak:.1f}'} [{curve}]")
    findings = doc.get("findings", [])
    hits = [f for f in findings if f.get("kind") == kind]
    if variant == "fixed":
        if hits or verdict.get("detected"):
            return False, f"raised {kind} on the fixed variant: {verdict.get('reason')}; {summary}"
        return True, f"no {kind}: {verdict.get('reason')}; {summary}"
    if not hits:
        return False, f"no {kind} finding: {verdict.get('reason')}; {summary}"
    f = hits[0]
    problems = []
    largest = max(int(n) for n in SCALE_THREADS.split(","))
    if peak is None or not (1 <= peak < largest):
        problems.append(f"fitted peak {peak} is not inside 1..{largest}")
    if f["rank"] > 2:
        problems.append(f"ranked {f['rank']}, not 1 or 2")
    if f.get("remedy", {}).get("kind") != remedy:
        problems.append(f"remedy {f.get('remedy', {}).get('kind')} instead of {remedy}")
    locs = f.get("locations", [])
    own = [l for l in locs if "tests/workloads/" in (l.get("file") or "")]
    if not own:
        problems.append("no location in the workload's own source: " +
                        "; ".join(f"{l.get('function')} {l.get('file')}:{l.get('line')}" for l in locs[:3]))
    where = f"{own[0]['function']} {os.path.basename(own[0]['file'])}:{own[0]['line']}" if own else "?"
    if own and not any(problem_marked(l["file"], l["line"]) for l in own):
        problems.append(f"{where} is not the workload's PROBLEM line")
    if problems:
        return False, "; ".join(problems) + "; " + summary
    return True, f"{kind} rank {f['rank']} at {where}, remedy {remedy}; {summary}"


# ---- ccprof diff on each bad/fixed pair (reuses the two outputs, no extra profiling) ----
def run_diff_case(build, scenario, kind, out_root, name=None):
    """bad -> fixed: every finding of the scenario's kind is `fixed`; fixed -> bad with
    --fail-on-regression: it is `new` (or `regressed`) and ccprof exits 3."""
    name = name or f"s{scenario:02d}"
    bad, fixed = (os.path.join(out_root, f"{name}-{v}") for v in ("bad", "fixed"))
    ccprof = os.path.join(build, "ccprof")
    problems, notes = [], []
    diff_out = os.path.join(out_root, f"{name}-diff")
    p = subprocess.run([ccprof, "diff", bad, fixed, "-o", diff_out], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        return False, f"diff bad fixed exited {p.returncode}: {p.stderr.strip()[-300:]}"
    with open(os.path.join(diff_out, "diff.json")) as f:
        entries = json.load(f)["entries"]
    mine = [e for e in entries if e["kind"] == kind]
    if not mine or any(e["verdict"] != "fixed" for e in mine):
        problems.append("bad->fixed: " + (", ".join(f"{e['subject']}={e['verdict']}" for e in mine) or f"no {kind}"))
    others = [f"{e['kind']}={e['verdict']}" for e in entries if e["kind"] != kind]
    if others:
        notes.append("others: " + ", ".join(others))
    p = subprocess.run([ccprof, "diff", fixed, bad, "--fail-on-regression"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 3:
        problems.append(f"fixed->bad --fail-on-regression exited {p.returncode}, not 3")
    if not any(l.split()[:1] == [kind] and l.rstrip().endswith(("new", "regressed")) for l in p.stdout.splitlines()):
        problems.append(f"fixed->bad: no new/regressed {kind} row")
    if problems:
        return False, "; ".join(problems + notes)
    return True, f"bad->fixed: {len(mine)} {kind} fixed; fixed->bad: new, exit 3" + ("; " + notes[0] if notes else "")


def main():
    if os.geteuid() != 0:
        print("matrix: skipped: needs root to load BPF programs")
        return 77
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--only", default="")
    ap.add_argument("--seconds", default="2")
    ap.add_argument("--keep", default="")
    ap.add_argument("--variants", default="", help="comma-separated build modes (%s) or all" % ",".join(VARIANT_MODES))
    args = ap.parse_args()
    only = {int(x) for x in args.only.split(",") if x}
    out_root = args.keep or tempfile.mkdtemp(prefix="ccprof-matrix-")
    if args.variants:
        modes = VARIANT_MODES if args.variants == "all" else [m for m in args.variants.split(",") if m]
        unknown = [m for m in modes if m not in VARIANT_MODES]
        if unknown:
            print(f"matrix: unknown build mode {', '.join(unknown)} (known: {', '.join(VARIANT_MODES)})")
            return 2
        return run_variants(args, modes, only, out_root)
    tally = Tally()
    for scenario, workload, kind, remedy in load_matrix(args.build):
        if only and scenario not in only:
            continue
        exe = os.path.join(args.build, "workloads", workload)
        if not os.path.exists(exe):
            tally.skip(f"{case_name(scenario, workload)} {kind:26s}", f"workload {workload} not built")
            continue
        if scenario not in IMPLEMENTED and not only:
            tally.skip(f"s{scenario:02d} {kind:26s}", "detection not implemented yet")
            continue
        name = case_name(scenario, workload)
        for variant in ("bad", "fixed"):
            case = run_scale_case if scenario == SCALE_SCENARIO else run_case
            tally.add(f"{name} {variant:5s}",
                      *case(args.build, scenario, workload, kind, remedy, variant, args.seconds, out_root))
        if all(os.path.exists(os.path.join(out_root, f"{name}-{v}", "findings.json")) for v in ("bad", "fixed")):
            tally.add(f"{name} diff ", *run_diff_case(args.build, scenario, kind, out_root, name))
    return tally.report(out_root)


class Tally:
    """Prints each case's line and counts the outcomes."""

    def __init__(self):
        self.passed = self.failed = self.skipped = self.known = 0

    def skip(self, label, why):
        print(f"{label} skipped: {why}", flush=True)
        self.skipped += 2  # both variants

    def add(self, label, ok, msg, gap=None):
        if gap and not ok:
            print(f"{label} GAP   {msg} (known gap: {gap})", flush=True)
            self.known += 1
            return
        if gap:
            msg += " (listed in KNOWN_GAPS but passes now: remove it there)"
        print(f"{label} {'PASS' if ok else 'FAIL'}  {msg}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def report(self, out_root, name="matrix"):
        print(f"outputs in {out_root}")
        print(f"{name}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped, {self.known} known gaps")
        return 1 if self.failed else 0


def run_variants(args, modes, only, out_root):
    tally = Tally()
    for scenario, workload, kind, remedy in load_matrix(args.build):
        if scenario not in VARIANT_SCENARIOS or (only and scenario not in only) or \
                (scenario, workload) in EXTRA_WORKLOADS:
            continue
        for mode in modes:
            if not os.path.exists(workload_path(args.build, workload, mode)):
                tally.skip(f"s{scenario:02d} {mode:14s} {kind:26s}", f"{mode}/{workload} not built")
                continue
            for variant in ("bad", "fixed"):
                seconds = str(max(float(args.seconds), VARIANT_SECONDS.get((scenario, mode), 0)))
                ok, msg = run_case(args.build, scenario, workload, kind, remedy, variant, seconds, out_root, mode)
                tally.add(f"s{scenario:02d} {mode:14s} {variant:5s}", ok, msg, KNOWN_GAPS.get((scenario, mode, variant)))
    return tally.report(out_root)


if __name__ == "__main__":
    sys.exit(main())
