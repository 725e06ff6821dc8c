#!/usr/bin/env python3
"""`ccprof export` end to end: profile s01 (lock contention, bad variant) once, then
check each export format against what findings.json says, with the tools users read
them with (`go tool pprof` for pprof). usage: export_test.py BUILD_DIR. Needs root
(BPF); exits 77 (skip) otherwise. `go` comes from Debian's golang-go (scripts/setup.sh)."""
import collections
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import build_dir, expect_refusal, main_as_root  # noqa: E402

BUILD = build_dir()
CCPROF = os.path.join(BUILD, "ccprof")
S01 = os.path.join(BUILD, "workloads", "s01-lock-contention")
TOLERANCE = 0.05  # the bound on pprof's total against findings.json
# A thread's CPU states cover its life but for the time before its first run that the
# probes saw (the main thread existed before the attach and was not runnable: ~ms) and
# the instants between its creation and its first wakeup: 1% plus 5 ms.
COVER_TOLERANCE, COVER_SLACK_US = 0.01, 5000
# Running intervals and the sched collector's on-CPU total come from the same switch
# instants; they differ only where the profile's end closes an open run (the totals are
# read a little earlier than the runs): 1% plus 2 ms.
RUNNING_TOLERANCE, RUNNING_SLACK_US = 0.01, 2000


def run(*args, timeout=180):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def pprof_top(path, *extra):
    p = run("go", "tool", "pprof", "-top", "-unit=ms", *extra, path, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"go tool pprof failed: {p.stderr}")
    return p.stdout


def pprof_focused(top):
    """The value of the samples a -tagfocus kept: "Showing nodes accounting for X" (with
    -nodefraction=0 no node is dropped, so X is all of them; "of Y total" stays unfiltered)."""
    m = re.search(r"accounting for ([0-9.]+)(?:ms)?, ", top)
    if not m:
        raise AssertionError("no 'accounting for' in pprof output:\n" + top)
    return float(m.group(1))


def pprof_total_ms(top):
    # "Showing nodes accounting for 1234.5ms, 100% of 1234.5ms total"
    m = re.search(r"of ([0-9.]+)ms total", top)
    if not m:
        raise AssertionError("no total in pprof output:\n" + top)
    return float(m.group(1))


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ccprof-export-")
        cls.out = os.path.join(cls.tmp, "out")
        # 1 s: s01 bad switches ~3.5k times a second, but a convoy run has reached ~12k/s, which
        # at 2 s went over the CPU timeline's budget (12,500 runs per CPU per 10 s window).
        p = run(CCPROF, "run", "-o", cls.out, "--", S01, "--variant=bad", "--seconds=1")
        if p.returncode != 0:
            raise AssertionError(p.stderr)
        with open(os.path.join(cls.out, "findings.json")) as f:
            cls.doc = json.load(f)
        lc = [f for f in cls.doc["findings"] if f["kind"] == "lock-contention"]
        if not lc:
            raise AssertionError("s01 bad raised no lock-contention finding: " + json.dumps(cls.doc["findings"]))
        cls.finding = lc[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def export(self, name, *args):
        path = os.path.join(self.tmp, name)
        p = run(CCPROF, "export", self.out, "-o", path, *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return path

    def test_pprof_contention_names_the_function_and_matches_the_lock_totals(self):
        path = self.export("contention.pb.gz", "--format=pprof")
        with open(path, "rb") as f:
            self.assertEqual(f.read(2), b"\x1f\x8b", "not gzip")
        top = pprof_top(path, "-sample_index=delay")
        contended = self.finding["locations"][0]["function"]
        self.assertIn(contended, top)
        # All locks but condition variables: the export's definition of contention.
        locks_ms = sum(l["total_wait_s"] for l in self.doc["locks"] if l["type"] != "condvar") * 1e3
        total = pprof_total_ms(top)
        self.assertLessEqual(abs(total - locks_ms), TOLERANCE * locks_ms, f"pprof {total} ms, findings {locks_ms} ms")
        # The finding's own lock, selected by its label.
        lock = self.finding["evidence"]["lock"]
        focus = f"-tagfocus=lock_address=^{lock['address']}$"
        top_lock = pprof_top(path, "-sample_index=delay", "-nodefraction=0", focus)
        want = lock["total_wait_s"] * 1e3
        got = pprof_focused(top_lock)
        self.assertLessEqual(abs(got - want), TOLERANCE * want, f"pprof {got} ms, finding {want} ms")
        self.assertIn(contended, top_lock)
        # The contention count is the kernel's wait count.
        p = run("go", "tool", "pprof", "-top", "-sample_index=contentions", "-nodefraction=0", focus, path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(pprof_focused(p.stdout), lock["waits"])

    def test_pprof_mappings_carry_the_build_id(self):
        path = self.export("contention.pb.gz", "--format=pprof")
        raw = run("go", "tool", "pprof", "-raw", path)
        self.assertEqual(raw.returncode, 0, raw.stderr)
        note = run("readelf", "-n", S01).stdout
        m = re.search(r"Build ID: ([0-9a-f]+)", note)
        self.assertTrue(m, "the workload has no build ID note")
        mapping = [l for l in raw.stdout.splitlines() if S01 in l]
        self.assertTrue(mapping, raw.stdout)
        self.assertIn(m.group(1), mapping[0])

    def test_pprof_offcpu_has_reasons(self):
        path = self.export("offcpu.pb.gz", "--format=pprof", "--profile=offcpu")
        top = pprof_top(path, "-sample_index=off_cpu")
        self.assertIn("[off-CPU: lock wait]", top)
        self.assertIn(self.finding["locations"][0]["function"], top)
        threads = self.doc["threads"]
        # Off CPU = lifetime - on CPU, per thread (the sched collector's exact totals).
        want = sum(t["lifetime_s"] - t["on_cpu_s"] for t in threads) * 1e3
        got = pprof_total_ms(top)
        self.assertLessEqual(abs(got - want), TOLERANCE * want, f"pprof {got} ms, lifetime - on-CPU {want} ms")
        runq = pprof_focused(pprof_top(path, "-sample_index=off_cpu", "-nodefraction=0",
                                       "-tagfocus=reason=^runnable, waiting for a CPU$"))
        want_runq = sum(t["runnable_s"] for t in threads) * 1e3
        self.assertLessEqual(abs(runq - want_runq), TOLERANCE * want_runq + 1, f"pprof {runq} ms, {want_runq} ms")
        # Blocked on the lock: part of the threads' lock wait (the rest is the run-queue
        # delay after each wake-up, counted as runnable: on 2 CPUs with 4 workers that is
        # most of it).
        lock = pprof_focused(pprof_top(path, "-sample_index=off_cpu", "-nodefraction=0",
                                       "-tagfocus=reason=^lock wait$"))
        lock_wait = sum(t["lock_wait_s"] for t in threads) * 1e3
        self.assertLessEqual(lock, lock_wait * (1 + TOLERANCE))
        self.assertGreater(lock, 0)

    def test_pprof_memory_counts_the_report_cache_lines(self):
        path = self.export("memory.pb.gz", "--format=pprof", "--profile=memory")
        lines = self.doc["cache_lines"]
        want = sum(i["count"] for l in lines for o in l["offsets"] for i in o["instructions"])
        p = run("go", "tool", "pprof", "-top", "-nodefraction=0", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        if not lines:
            self.assertIn("Total samples = 0", p.stdout)
            return
        m = re.search(r"of (\d+) total", p.stdout)
        self.assertTrue(m, p.stdout)
        self.assertEqual(int(m.group(1)), want)
        hottest = max(lines, key=lambda l: l["samples"])
        fn = max((i for o in hottest["offsets"] for i in o["instructions"]), key=lambda i: i["count"])["function"]
        self.assertIn(fn, p.stdout)
        tags = run("go", "tool", "pprof", "-tags", path).stdout
        for key in ("cache_line:", "member:", "access:", "offset:"):
            self.assertIn(key, tags)
        self.assertIn(hottest["name"] or hottest["address"], tags)

    def test_collapsed_is_folded_stacks_summing_to_the_wait(self):
        path = self.export("contention.folded", "--format=collapsed")
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertTrue(lines)
        total_ns = 0
        for line in lines:
            m = re.fullmatch(r"(\S+) (\d+)", line)
            self.assertTrue(m, f"not a folded line: {line!r}")
            total_ns += int(m.group(2))
        self.assertEqual(len(set(l.rsplit(" ", 1)[0] for l in lines)), len(lines), "stacks are not merged")
        contended = self.finding["locations"][0]["function"]
        self.assertTrue(any(contended in l.split(";") or f";{contended};" in l for l in lines))
        locks_ns = sum(l["total_wait_s"] for l in self.doc["locks"] if l["type"] != "condvar") * 1e9
        self.assertLessEqual(abs(total_ns - locks_ns), TOLERANCE * locks_ns)
        # Root first: the leaf (last frame) of the heaviest stack is in the lock's code, main is near the root.
        heaviest = max(lines, key=lambda l: int(l.rsplit(" ", 1)[1]))
        frames = heaviest.rsplit(" ", 1)[0].split(";")
        self.assertLess(frames.index(contended), len(frames) - 1, heaviest)

    def test_chrome_trace_is_trace_event_json_with_per_thread_waits(self):
        path = self.export("trace.json", "--format=chrome-trace")
        with open(path) as f:
            trace = json.load(f)
        events = trace["traceEvents"]
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
        waits = [e for e in events if e["ph"] == "X" and e.get("cat") == "lock"]
        self.assertTrue(waits)
        for e in events:
            self.assertIn(e["ph"], ("M", "X", "C", "i"))
            self.assertIsInstance(e["pid"], int)
            self.assertIsInstance(e["tid"], int)
            if e["ph"] != "M":
                self.assertIsInstance(e["ts"], (int, float))
            if e["ph"] == "X":
                self.assertGreaterEqual(e["dur"], 0)
        lock = self.finding["evidence"]["lock"]
        on_lock = [e for e in waits if e["args"]["address"] == lock["address"]]
        tids = {e["tid"] for e in on_lock}
        self.assertGreaterEqual(len(tids), 2, "waits on the contended lock from one thread only")
        for e in on_lock:
            self.assertIn((e["pid"], e["tid"]), names, "a waiting thread has no thread_name")
        # Waits of the events the agent kept: never more than the kernel's exact total.
        kept_s = sum(e["dur"] for e in on_lock) / 1e6
        self.assertLessEqual(kept_s, lock["total_wait_s"] * 1.01)
        self.assertGreater(kept_s, 0)

    def test_chrome_trace_cpu_states_cover_each_threads_life(self):
        """Per thread: running + runnable + blocked (its CPU track) with its lock waits
        and blocking syscalls (its own track) cover its life in the profile within
        COVER_TOLERANCE; running is the sched collector's exact on-CPU time; a CPU runs
        one thread at a time."""
        path = self.export("trace-cpu.json", "--format=chrome-trace")
        with open(path) as f:
            trace = json.load(f)
        info = trace["otherData"]["running_intervals"]
        self.assertIsInstance(info, dict, info)
        self.assertGreater(info["runs"], 0)
        # The budget (runs per CPU per second) holds s01 on 2 CPUs: nothing dropped, so
        # every thread's life can be checked whole.
        self.assertEqual(info["runs_over_budget"] + info["runs_dropped"], 0, info)
        state_tid = int(info["cpu_state_track"].split("+")[1])
        life, covering = {}, collections.defaultdict(list)
        running_us = collections.defaultdict(float)
        by_cpu = collections.defaultdict(list)
        cpu_track = collections.defaultdict(list)
        for e in trace["traceEvents"]:
            if e["ph"] != "X":
                continue
            span = (e["ts"], e["ts"] + e["dur"])
            if e["cat"] == "thread":
                life[(e["pid"], e["tid"])] = span
            elif e["cat"] == "sched":
                key = (e["pid"], e["tid"] - state_tid)
                covering[key].append(span)
                cpu_track[key].append(span)
                if e["name"] == "running":
                    gaps = e["args"].get("coalesced_gaps", {}).get("us", 0)
                    running_us[key] += e["dur"] - gaps
                    by_cpu[e["args"]["cpu"]].append(span + key)
            elif e["cat"] in ("lock", "condvar", "syscall"):
                covering[(e["pid"], e["tid"])].append(span)
        for cpu, runs in by_cpu.items():
            runs.sort()
            for a, b in zip(runs, runs[1:]):
                self.assertLessEqual(a[1], b[0] + 1e-3, f"CPU {cpu}: {a} and {b} overlap")
        sched = {(t["pid"], t["tid"]): t for t in self.doc["threads"]}
        checked = 0
        for key, (start, end) in life.items():
            if key not in covering:
                continue
            on_cpu_s = sched.get(key, {}).get("on_cpu_s")
            self.assertIsNotNone(on_cpu_s, f"thread {key} has runs but no sched totals")
            want = on_cpu_s * 1e6
            self.assertLessEqual(abs(running_us[key] - want), RUNNING_TOLERANCE * want + RUNNING_SLACK_US,
                                 f"thread {key}: running {running_us[key]:.0f} us, sched on-CPU {want:.0f} us")
            # With no run lost, the CPU track alone tiles the thread's time from its first
            # state to its last: each blocked / runnable / running starts where the one
            # before it ended (no hole, no overlap).
            track = sorted(cpu_track[key])
            for a, b in zip(track, track[1:]):
                self.assertAlmostEqual(a[1], b[0], delta=1e-3, msg=f"thread {key}: {a} then {b}")
            spans = sorted((max(a, start), min(b, end)) for a, b in covering[key] if b > start and a < end)
            covered, reach = 0.0, start
            for a, b in spans:
                if b > reach:
                    covered += b - max(a, reach)
                    reach = b
            uncovered = (end - start) - covered
            self.assertLessEqual(uncovered, COVER_TOLERANCE * (end - start) + COVER_SLACK_US,
                                 f"thread {key}: {uncovered:.0f} us of {end - start:.0f} us in no state")
            checked += 1
        self.assertGreaterEqual(checked, 5, "s01 has a main thread and 4 workers")

    def test_bad_input_is_one_line_error_and_no_file(self):
        path = os.path.join(self.tmp, "never.pb.gz")
        for args in (["--format=svg"], ["--profile=nope"]):
            p = run(CCPROF, "export", self.out, "-o", path, *args)
            self.assertNotEqual(p.returncode, 0)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertFalse(os.path.exists(path))
        p = run(CCPROF, "export", os.path.join(self.tmp, "missing.ccprof"), "-o", path)
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(path))
        bad = os.path.join(self.tmp, "garbage.ccprof")
        with open(bad, "wb") as f:
            f.write(b"not a recording")
        p = run(CCPROF, "export", bad, "-o", path)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("error", p.stderr)
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    if shutil.which("go") is None:
        print("export_test: `go` not found: run scripts/setup.sh (Debian golang-go provides go tool pprof)")
        sys.exit(1)
    main_as_root("export_test")
