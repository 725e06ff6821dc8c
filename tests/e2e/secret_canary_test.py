#!/usr/bin/env python3
"""No raw target memory in ccprof's outputs (issue 15): the target keeps a secret in its
environment, in a heap buffer and, in its hot loop, in a request buffer on its stack
while it waits for a contended lock. Every output of `ccprof run` (recording,
findings.json, report.html) and of `ccprof report` and `ccprof export` is searched for the
secret (compressed ones decompressed: gzip, a recording's zstd payload). With --keep-stack-bytes the recording must hold it:
that proves the search would find a leak. usage: secret_canary_test.py BUILD_DIR. Needs
root (BPF); exits 77 (skip) otherwise."""
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import build_dir, decompressed, main_as_root  # noqa: E402

BUILD = build_dir()
CCPROF = os.path.join(BUILD, "ccprof")
TARGET = os.path.join(BUILD, "tests", "secret_canary")


def run(*args, env=None, timeout=180):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)


def files_holding(folder, needle):
    """The files under `folder` whose bytes (decompressed: gzip, a recording's zstd
    payload) contain `needle`."""
    hits = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = decompressed(f.read())
            if needle in data:
                hits.append(os.path.relpath(path, folder))
    return sorted(hits)


class SecretCanary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ccprof-canary-")
        cls.secret = ("CCPROF-CANARY-" + secrets.token_hex(16)).encode()
        cls.env = dict(os.environ, CCPROF_CANARY_SECRET=cls.secret.decode())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def profile(self, name, *flags):
        out = os.path.join(self.tmp, name)
        p = run(CCPROF, "run", "-o", out, *flags, "--", TARGET, "2", env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return out

    def test_no_output_holds_the_secret(self):
        out = self.profile("default")
        outputs = sorted(os.listdir(out))
        for name in ("recording.ccprof", "findings.json", "report.html"):
            self.assertIn(name, outputs)
        # The profile saw the waits whose stacks held the secret, and unwound them.
        with open(os.path.join(out, "findings.json")) as f:
            self.assertIn("handle_requests", f.read(), "the waits' stacks did not unwind to the caller")
        rerendered = os.path.join(self.tmp, "rerendered")
        p = run(CCPROF, "report", os.path.join(out, "recording.ccprof"), "-o", rerendered)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        exports = os.path.join(self.tmp, "exports")
        os.makedirs(exports)
        for fmt, name in (("pprof", "p.pb.gz"), ("collapsed", "folded.txt"), ("chrome-trace", "trace.json")):
            p = run(CCPROF, "export", out, "-o", os.path.join(exports, name), "--format=" + fmt)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        for folder in (out, rerendered, exports):
            self.assertEqual(files_holding(folder, self.secret), [], f"the secret leaked into {folder}")

    def test_keep_stack_bytes_keeps_raw_memory_so_the_search_would_see_a_leak(self):
        out = self.profile("kept", "--keep-stack-bytes")
        self.assertIn("recording.ccprof", files_holding(out, self.secret))


if __name__ == "__main__":
    main_as_root("secret_canary")
