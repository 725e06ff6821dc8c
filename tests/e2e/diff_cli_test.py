#!/usr/bin/env python3
"""`ccprof diff` as a user runs it, on findings.json documents (no root, no profiling):
the report fixtures of tests/browser/fixtures and variants of them made here.
usage: diff_cli_test.py BUILD_DIR"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build"
CCPROF = os.path.join(BUILD, "ccprof")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser", "fixtures")


def ccprof(*args):
    return subprocess.run([CCPROF, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


class DiffCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ccprof-diff-")
        with open(os.path.join(FIXTURES, "lock-contention.json")) as f:
            self.doc = json.load(f)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, doc):
        # An output folder, as `ccprof run -o` leaves it.
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        with open(os.path.join(d, "findings.json"), "w") as f:
            json.dump(doc, f)
        return d

    def entries(self, out):
        with open(os.path.join(out, "diff.json")) as f:
            return {e["subject"]: e for e in json.load(f)["entries"]}

    def test_same_profile_is_unchanged_and_passes_the_gate(self):
        a = self.write("a", self.doc)
        out = os.path.join(self.tmp, "d")
        p = ccprof("diff", a, a, "-o", out, "--fail-on-regression")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("noise band:", p.stdout)
        e = self.entries(out)
        self.assertEqual({v["verdict"] for v in e.values()}, {"unchanged"})
        self.assertEqual(set(e), {"lock g_table_mutex", "lock g_stats_mutex"})

    def test_fix_removes_one_lock_and_halves_the_other(self):
        before = self.write("before", self.doc)
        after_doc = copy.deepcopy(self.doc)
        after_doc["findings"] = [f for f in after_doc["findings"] if f["evidence"]["lock"]["name"] != "g_table_mutex"]
        for f in after_doc["findings"]:
            f["cost"]["share"] = 0.0   # g_stats_mutex: 1.8% -> 0%: within the absolute band
            f["evidence"]["lock"]["address"] = "0x1234"  # another run, another address: still matched
        after = self.write("after", after_doc)
        out = os.path.join(self.tmp, "d")
        p = ccprof("diff", before, after, "-o", out, "--fail-on-regression")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        e = self.entries(out)
        self.assertEqual(e["lock g_table_mutex"]["verdict"], "fixed")
        self.assertIsNone(e["lock g_table_mutex"]["after"])
        self.assertEqual(e["lock g_stats_mutex"]["verdict"], "unchanged")

    def test_regression_exits_3_only_with_the_flag(self):
        with open(os.path.join(FIXTURES, "lock-held-across-io.json")) as f:
            other = json.load(f)
        before = self.write("before", self.doc)
        after_doc = copy.deepcopy(self.doc)
        after_doc["findings"][1]["cost"]["share"] = 0.2  # g_stats_mutex 1.8% -> 20%
        after_doc["findings"].append(other["findings"][0])
        after = self.write("after", after_doc)
        p = ccprof("diff", before, after)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = ccprof("diff", before, after, "--fail-on-regression")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        rows = {l.split()[0]: l for l in p.stdout.splitlines() if l.startswith(("lock-", "kind"))}
        self.assertTrue(rows["lock-held-across-io"].rstrip().endswith("new"), p.stdout)
        self.assertIn("regressed", p.stdout)
        self.assertIn("--fail-on-regression", p.stderr)

    def test_bad_input_is_a_one_line_error(self):
        junk = os.path.join(self.tmp, "junk.json")
        with open(junk, "w") as f:
            f.write("{\"not\": \"findings\"}")
        a = self.write("a", self.doc)
        for args in ([a, os.path.join(self.tmp, "missing")], [junk, a], [self.tmp, a]):
            p = ccprof("diff", *args, "-o", os.path.join(self.tmp, "never"))
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "never")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
