#!/usr/bin/env python3
"""Python frames at memory samples (issue 16), end to end: usage:
python_memory_frames_test.py BUILD_DIR. Needs root (BPF); exits 77 (skip) otherwise,
and where the machine's python3 is not CPython 3.11 (the only version ccprof reads).

- Two threads of tests/workloads/python_shared_bytearray.py write one byte of a shared
  bytearray at the line marked HOT: findings.json's memory.python must name that
  file:line as the top site of the samples and in the flame graph's stacks, above the
  interpreter's native function; nearly every sample of the Python threads has a frame.
- The frame sampler does not keep waking for a target that is not Python: with -v, a
  C++ workload's log says it stopped, the Python one's does not."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

BUILD = e2e_util.build_dir()
CCPROF = os.path.join(BUILD, "ccprof")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "workloads", "python_shared_bytearray.py")
SCRIPT = os.path.realpath(SCRIPT)
STOP_LOG = "the frame sampler stops"
# A sample takes a read within 10 ms of it; the sampler reads every ~10 ms, so only a
# thread's first and last milliseconds, or a sampler stalled by a busy machine for more
# than a period, leave samples without one. Measured: see the README (Python frames).
MIN_WITH_FRAMES = 0.8
# The HOT line is the loop's body: most of the bytecode run, though the `for` line
# and the loop's test take some samples too.
MIN_HOT_SHARE = 0.5


def hot_line():
    with open(SCRIPT) as f:
        for n, line in enumerate(f, 1):
            if "# HOT" in line:
                return n
    raise AssertionError("no HOT marker in " + SCRIPT)


def profile(argv):
    out = tempfile.mkdtemp(prefix="ccprof-pymem-")
    p = subprocess.run([CCPROF, "-v", "run", "-o", out, "--", *argv], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=180)
    if p.returncode != 0:
        raise AssertionError(f"ccprof run {argv} exited {p.returncode}: {p.stderr[-800:]}")
    with open(os.path.join(out, "findings.json")) as f:
        return json.load(f), p.stderr


class PythonMemoryFrames(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc, cls.log = profile(["/usr/bin/python3", SCRIPT, "2", "2"])

    def test_samples_name_the_hot_line(self):
        py = self.doc["memory"].get("python")
        self.assertIsNotNone(py, "no memory.python table: " + json.dumps(self.doc["memory"])[:400])
        self.assertGreater(py["samples"], 50, py)
        self.assertGreaterEqual(py["samples_with_frames"], MIN_WITH_FRAMES * py["samples"], py)
        top = py["sites"][0]
        self.assertEqual(os.path.basename(top["file"]), "python_shared_bytearray.py", py["sites"][:3])
        self.assertEqual(top["line"], hot_line(), py["sites"][:3])
        self.assertEqual(top["function"], "hammer")
        self.assertGreaterEqual(top["share"], MIN_HOT_SHARE, py["sites"][:3])
        missing = sum(l["count"] for l in self.doc["losses"] if l["what"] == "python.memory_sample_frames_missing")
        self.assertEqual(missing, py["samples"] - py["samples_with_frames"])

    def test_flame_graph_has_python_frames_above_native(self):
        want = f"hammer (python_shared_bytearray.py:{hot_line()})"
        stacks = self.doc["memory"]["python"]["stacks"]
        hot = [s for s in stacks if want in s["frames"]]
        self.assertTrue(hot, [s["frames"] for s in stacks[:5]])
        for s in hot:
            i = s["frames"].index(want)
            # the innermost Python frame, then the interpreter's native function (a leaf)
            self.assertEqual(i, len(s["frames"]) - 2, s["frames"])
            self.assertNotIn(".py:", s["frames"][-1])
        # root first: a thread's outermost Python frame is threading's Thread._bootstrap
        self.assertIn("threading.py", hot[0]["frames"][0])

    def test_sampler_keeps_running_for_python(self):
        self.assertNotIn(STOP_LOG, self.log)

    def test_sampler_stops_for_a_native_target(self):
        # It stops ~1 s after the target's exec (kNoPythonGiveUpNs): a 3 s target leaves margin
        # for a busy machine.
        _, log = profile([os.path.join(BUILD, "workloads", "s01-lock-contention"), "--variant=bad", "--seconds=3",
                          "--threads=2"])
        self.assertIn(STOP_LOG, log)


if __name__ == "__main__":
    v = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                       stdout=subprocess.PIPE, text=True)
    if v.stdout.strip() != "True":
        print("python_memory_frames_test: skipped: /usr/bin/python3 is not CPython 3.11")
        sys.exit(77)
    e2e_util.main_as_root("python_memory_frames_test")
