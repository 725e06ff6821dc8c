#!/usr/bin/env python3
"""Healthy twins (root, real BPF): programs that look superficially like a problem but
are not one must get no finding at all (tests/workloads/healthy_twins.cc):
  mmap-reader   RSS grows steadily with file pages (not a queue)
  cache-fill    the heap grows once and stops; nothing is handed off (not a queue)
  idle-pool     8 workers parked on a condition variable (not a saturated pool, not a stall)
  bursty-queue  a queue that fills in bursts and drains between them (bounded in effect)
usage: healthy_test.py BUILD_DIR [unittest args]. Skips (exit 77) when not root."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build"
CCPROF = os.path.join(BUILD, "ccprof")
TWINS = os.path.join(BUILD, "workloads", "healthy-twins")
SECONDS = "2"


class HealthyTwins(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ccprof-healthy-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_clean(self, case):
        out = os.path.join(self.tmp, case)
        p = subprocess.run([CCPROF, "run", "-o", out, "--", TWINS, case, f"--seconds={SECONDS}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "findings.json")) as f:
            doc = json.load(f)
        self.assertGreater(doc["profile"]["threads"], 1, "the twin must have run its threads")
        self.assertEqual([(f["kind"], f["title"]) for f in doc["findings"]], [])
        return doc

    def test_mmap_reader(self):
        doc = self.assert_clean("mmap-reader")
        # It does look like growth: the resident set rose by tens of MiB of file pages.
        rss = [r["rss_bytes"] for r in doc["rss"]]
        self.assertTrue(rss, "the RSS trend must have been sampled")
        self.assertGreater(max(rss) - min(rss), 16 * 1024 * 1024)

    def test_cache_filled_once_then_read(self):
        self.assert_clean("cache-fill")

    def test_idle_worker_pool(self):
        self.assert_clean("idle-pool")

    def test_bursty_queue_that_drains(self):
        self.assert_clean("bursty-queue")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root (BPF)")
        sys.exit(77)
    unittest.main()
