#!/usr/bin/env python3
"""debuginfod on purpose (root, real BPF): a stripped s01 whose debug file exists only on
a local `debuginfod` server (Debian's package, serving a folder on 127.0.0.1) must be
reported with `function file:line` locations and "debuginfod" as the source of its debug
info; a server that never answers must not stall the profile beyond ccprof's bound.
usage: debuginfod_test.py BUILD_DIR [unittest args]. Skips (exit 77) when not root."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import build_dir, build_id, free_port  # noqa: E402

BUILD = build_dir()
CCPROF = os.path.join(BUILD, "ccprof")
S01 = os.path.join(BUILD, "workloads", "s01-lock-contention")
# ccprof's bound on one module's query (profiler/debuginfod_fetch.cc), plus slack for a busy VM.
QUERY_LIMIT_S = 5


def profile(out, env_extra, *command):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUGINFOD_", "CCPROF_DEBUGINFO"))}
    env.update(env_extra)
    t0 = time.time()
    p = subprocess.run([CCPROF, "run", "-o", out, "--", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=180, env=env)
    took = time.time() - t0
    if p.returncode != 0:
        raise AssertionError(f"ccprof run failed ({p.returncode}): {p.stderr}")
    with open(os.path.join(out, "findings.json")) as f:
        return json.load(f), took


def debug_row(doc, name):
    rows = [r for r in doc.get("debug_info", []) if os.path.basename(r["module"]) == name]
    if not rows:
        raise AssertionError(f"no debug_info row for {name}: {doc.get('debug_info')}")
    return rows[0]


class Debuginfod(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ccprof-debuginfod-")
        srv, bindir = os.path.join(cls.tmp, "served"), os.path.join(cls.tmp, "bin")
        os.makedirs(srv)
        os.makedirs(bindir)
        # What a distro ships: the stripped binary; its debug file only on the server.
        cls.app = os.path.join(bindir, "app")
        subprocess.run(["objcopy", "--strip-all", S01, cls.app], check=True)
        subprocess.run(["objcopy", "--only-keep-debug", S01, os.path.join(srv, "app.debug")], check=True)
        # The binary too, for `ccprof report` of a recording whose module this host lacks.
        shutil.copy(cls.app, os.path.join(srv, "app"))
        cls.build_id = build_id(cls.app)
        cls.port = free_port()
        cls.log = open(os.path.join(cls.tmp, "debuginfod.log"), "w")
        cls.server = subprocess.Popen(
            ["debuginfod", "-F", "-p", str(cls.port), "-d", os.path.join(cls.tmp, "index.sqlite"),
             "--disable-source-scan", "-c", "1", srv],
            stdout=cls.log, stderr=subprocess.STDOUT)
        cls.url = f"http://127.0.0.1:{cls.port}"
        try:
            cls.wait_until_served()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def wait_until_served(cls):
        # The port opens before the first scan ends: wait for the file itself.
        deadline = time.time() + 60
        while time.time() < deadline:
            if cls.server.poll() is not None:
                raise AssertionError(f"debuginfod exited with {cls.server.returncode}")
            try:
                with urllib.request.urlopen(f"{cls.url}/buildid/{cls.build_id}/debuginfo", timeout=2) as r, \
                        urllib.request.urlopen(f"{cls.url}/buildid/{cls.build_id}/executable", timeout=2) as e:
                    if r.status == 200 and e.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise AssertionError("debuginfod did not serve the debug file within 60 s")

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "server", None) and cls.server.poll() is None:
            cls.server.terminate()
            try:
                cls.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.server.kill()
                cls.server.wait()
        if getattr(cls, "log", None):
            cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_stripped_binary_gets_function_file_line_from_the_server(self):
        env = {"DEBUGINFOD_URLS": self.url, "DEBUGINFOD_CACHE_PATH": os.path.join(self.tmp, "cache")}
        doc, _ = profile(os.path.join(self.tmp, "served-out"), env, self.app, "--seconds=1.5")
        lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
        self.assertTrue(lc, doc["findings"])
        loc = lc[0]["locations"][0]
        self.assertEqual(loc["function"], "count_word_shared")
        self.assertTrue(loc["file"].endswith("s01_lock_contention.cc"), loc)
        self.assertGreater(loc["line"], 0)
        self.assertEqual(lc[0]["evidence"]["lock"]["name"], "g_table_mutex")
        row = debug_row(doc, "app")
        self.assertEqual(row["source"], "debuginfod", row)
        self.assertTrue(row["file"].startswith(os.path.join(self.tmp, "cache")), row)

    def test_report_of_a_recording_gets_the_module_itself_from_the_server(self):
        # Profiled here, then the binary is gone (another host, a container that exited):
        # `ccprof report` asks debuginfod for the executable of the recorded build ID.
        moved = os.path.join(self.tmp, "bin", "moved-app")
        shutil.copy(self.app, moved)
        env = {"DEBUGINFOD_URLS": self.url, "DEBUGINFOD_CACHE_PATH": os.path.join(self.tmp, "c4")}
        out = os.path.join(self.tmp, "moved-out")
        profile(out, env, moved, "--seconds=1")
        os.unlink(moved)
        renv = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUGINFOD_", "CCPROF_DEBUGINFO"))}
        renv.update(env, DEBUGINFOD_CACHE_PATH=os.path.join(self.tmp, "c5"))  # nothing cached
        p = subprocess.run([CCPROF, "report", os.path.join(out, "recording.ccprof"), "-o", out + "-r"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, env=renv)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out + "-r", "findings.json")) as f:
            doc = json.load(f)
        lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
        self.assertTrue(lc, doc["findings"])
        self.assertEqual(lc[0]["locations"][0]["function"], "count_word_shared")
        row = debug_row(doc, "moved-app")
        self.assertEqual(row["source"], "debuginfod", row)
        self.assertIn("from debuginfod", row["detail"])

    def test_without_the_server_the_report_says_where_it_looked(self):
        closed = free_port()  # nothing listens there
        env = {"DEBUGINFOD_URLS": f"http://127.0.0.1:{closed}", "DEBUGINFOD_CACHE_PATH": os.path.join(self.tmp, "c2")}
        doc, _ = profile(os.path.join(self.tmp, "closed-out"), env, self.app, "--seconds=1")
        row = debug_row(doc, "app")
        self.assertEqual(row["source"], "none", row)
        self.assertIn(f"127.0.0.1:{closed}", row["detail"])
        self.assertIn(".build-id/", row["detail"])
        losses = {l["what"] for l in doc["losses"]}
        self.assertTrue(any(w.startswith("symbolize.no_debug_info") and w.endswith("/app") for w in losses), losses)

    def test_a_server_that_never_answers_does_not_stall_the_profile(self):
        # Accepts connections (the kernel's backlog) and never answers a request.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            url = "http://127.0.0.1:%d" % silent.getsockname()[1]
            env = {"DEBUGINFOD_URLS": url, "DEBUGINFOD_CACHE_PATH": os.path.join(self.tmp, "c3")}
            base_doc, base_s = profile(os.path.join(self.tmp, "base-out"), {}, self.app, "--seconds=1")
            doc, took = profile(os.path.join(self.tmp, "silent-out"), env, self.app, "--seconds=1")
        row = debug_row(doc, "app")
        self.assertEqual(row["source"], "none", row)
        self.assertIn("within", row["detail"])
        # One query waits at most QUERY_LIMIT_S; after it, no module asks that server again.
        self.assertLess(took - base_s, QUERY_LIMIT_S + 6, (took, base_s))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root (BPF)")
        sys.exit(77)
    unittest.main()
