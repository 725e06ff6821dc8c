#!/usr/bin/env python3
"""A FILE's lock is stdio's, not the program's, end to end: usage: stdio_lock_test.py BUILD_DIR.
Needs root (BPF); exits 77 (skip) otherwise.

tests/workloads/stdio_lines.cc: 4 threads log through stdout. With one printf per line
(bad) they serialise on stdout's lock (libc's _IO_stdfile_1_lock): ccprof must say so,
at the workload's printf line, with the remedy `batch` (write each thread's lines in
batches), not `shard`. With a 64 KiB buffer per thread (fixed) there is no such finding."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build"
CCPROF = os.path.join(BUILD, "ccprof")
WORKLOAD = os.path.join(BUILD, "workloads", "stdio-lines")


def profile(variant):
    out = tempfile.mkdtemp(prefix="ccprof-stdio-")
    p = subprocess.run([CCPROF, "run", "-o", out, "--", WORKLOAD, f"--variant={variant}", "--seconds=1.5"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=180)
    if p.returncode != 0:
        raise AssertionError(f"ccprof run stdio-lines exited {p.returncode}: {p.stderr[-500:]}")
    with open(os.path.join(out, "findings.json")) as f:
        return json.load(f)


class StdioLock(unittest.TestCase):
    def test_stdouts_lock_is_batched_not_sharded(self):
        doc = profile("bad")
        lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
        self.assertTrue(lc, [f["kind"] for f in doc["findings"]])
        f = lc[0]
        self.assertTrue(f["title"].startswith("Threads serialise on stdout's lock (taken inside "), f["title"])
        self.assertEqual(f["remedy"]["kind"], "batch")
        self.assertEqual(f["evidence"]["lock"]["name"], "_IO_stdfile_1_lock")
        loc = f["locations"][0]
        self.assertEqual((os.path.basename(loc["file"]), loc["function"]), ("stdio_lines.cc", "log_lines_unbuffered"))

    def test_buffered_twin_is_clean(self):
        doc = profile("fixed")
        self.assertFalse([f for f in doc["findings"] if f["kind"] == "lock-contention"],
                         [(f["kind"], f["title"]) for f in doc["findings"]])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("stdio_lock_test: skipped: needs root to load BPF programs")
        sys.exit(77)
    unittest.main()
