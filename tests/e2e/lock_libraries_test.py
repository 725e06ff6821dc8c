#!/usr/bin/env python3
"""Locks beyond glibc's, end to end (issue 17): usage: lock_libraries_test.py BUILD_DIR.
Needs root (BPF); exits 77 (skip) otherwise.

- glibc: with two threads, the thread that held the mutex when a wait began (__owner)
  is the one whose FUTEX_WAKE ended it, so the two owner evidences must agree.
- absl::Mutex: its waiters sleep on per-thread semaphores; the waits inside its slow path
  are charged to the mutex (g_table_mu), its owners are the wakers, and its spinning in
  absl::Mutex::Lock is never a cas-retry-storm.
- Rust std::sync::Mutex and parking_lot (when built): the site is the workload's line,
  names are demangled, owners come from the wakers."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build"
CCPROF = os.path.join(BUILD, "ccprof")
WORKLOADS = os.path.join(BUILD, "workloads")
# Measured: 102 of 102 waits agreed (2 threads, busy 2-CPU VM). Below 90% something
# attributes owners or wakers to the wrong thread.
MIN_AGREEMENT = 0.9


def profile(workload, *args):
    out = tempfile.mkdtemp(prefix="ccprof-locklib-")
    p = subprocess.run([CCPROF, "run", "-o", out, "--", os.path.join(WORKLOADS, workload), *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
    if p.returncode != 0:
        raise AssertionError(f"ccprof run {workload} exited {p.returncode}: {p.stderr[-500:]}")
    with open(os.path.join(out, "findings.json")) as f:
        return json.load(f)


def lock_named(doc, name):
    locks = [l for l in doc["locks"] if l["name"] == name]
    if not locks:
        raise AssertionError(f"no lock {name} in {[l['name'] or l['address'] for l in doc['locks'][:5]]}")
    return locks[0]


class LockLibraries(unittest.TestCase):
    def test_glibc_owner_field_and_waker_agree(self):
        doc = profile("s01-lock-contention", "--variant=bad", "--seconds=1", "--threads=2")
        l = lock_named(doc, "g_table_mutex")
        self.assertEqual(l["owner_source"], "owner field")
        self.assertGreaterEqual(l["owner_and_waker"], 20, l)
        self.assertGreaterEqual(l["owner_is_waker"] / l["owner_and_waker"], MIN_AGREEMENT, l)

    def test_absl_mutex_waits_are_charged_to_the_mutex(self):
        doc = profile("s01-absl-mutex", "--variant=bad", "--seconds=1.5")
        kinds = [f["kind"] for f in doc["findings"]]
        self.assertNotIn("cas-retry-storm", kinds)
        lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
        self.assertTrue(lc, kinds)
        l = lc[0]["evidence"]["lock"]
        self.assertEqual(l["name"], "g_table_mu")
        self.assertEqual(l["type"], "mutex")
        # every sampled wait slept on a per-thread semaphore, not on the mutex word
        self.assertGreater(l["waits_on_other_words"], 0)
        self.assertEqual(l["owner_source"], "waker")
        self.assertGreaterEqual(len(l["owners"]), 2, l["owners"])
        loc = lc[0]["locations"][0]
        self.assertEqual(os.path.basename(loc["file"]), "s01_absl_mutex.cc")
        self.assertEqual(loc["function"], "count_word_shared")

    def rust(self, workload, fn):
        if not os.path.exists(os.path.join(WORKLOADS, workload)):
            self.skipTest(f"{workload} not built (Debian's rustc/cargo missing)")
        doc = profile(workload, "--variant=bad", "--seconds=1.5")
        lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
        self.assertTrue(lc, [f["kind"] for f in doc["findings"]])
        loc = lc[0]["locations"][0]
        self.assertTrue(loc["file"].endswith(".rs") and "tests/workloads/rust/" in loc["file"], loc)
        # v0-mangled workload symbols, demangled (no _R / _ZN left)
        self.assertEqual(loc["function"], fn)
        self.assertEqual(lc[0]["evidence"]["lock"]["owner_source"], "waker")
        self.assertGreaterEqual(len(lc[0]["evidence"]["lock"]["owners"]), 2)

    def test_rust_std_mutex(self):
        self.rust("s01-rust-std-mutex", "s01_rust_std_mutex::count_word_shared")

    def test_rust_parking_lot(self):
        self.rust("s01-rust-parking-lot", "s01_rust_parking_lot::count_word_shared")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("lock_libraries_test: skipped: needs root to load BPF programs")
        sys.exit(77)
    unittest.main()
