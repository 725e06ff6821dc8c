#!/usr/bin/env python3
"""A packaged, stripped server with its debug file from debuginfod (root, real BPF):
Debian's uwsgi-core (no symbols in /usr/bin/uwsgi-core) with 4 threads under wrk; its
uwsgi-dbg package is not installed but downloaded as a .deb and served by a local
`debuginfod -U` on 127.0.0.1. `ccprof attach` must locate uWSGI's accept lock
(`thunder_mutex`, held around epoll_wait/accept when --threads > 1) as
`wsgi_req_accept core/utils.c:LINE`, with "debuginfod" as the source of uwsgi-core's
debug info.
usage: packaged_server_test.py BUILD_DIR [unittest args]. Skips (exit 77) when not root,
when uwsgi-core, wrk or bsdtar are missing (scripts/setup.sh installs them), when
uwsgi-dbg is installed (then debuginfod would not be what provides the file), or when
the .deb cannot be downloaded (apt-get download)."""
import json
import os
import shutil
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
UWSGI = "/usr/bin/uwsgi-core"


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (BPF)"
    for tool in (UWSGI, "wrk", "bsdtar", "debuginfod"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/setup.sh installs it)"
    if subprocess.run(["dpkg-query", "-W", "-f=${Status}", "uwsgi-dbg"], stdout=subprocess.PIPE,
                      stderr=subprocess.DEVNULL, text=True).stdout.startswith("install ok"):
        return "uwsgi-dbg is installed: its debug files under /usr/lib/debug would be used, not debuginfod"
    return None


def wait_for(url, deadline_s, proc):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {deadline_s} s")


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PackagedServer(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ccprof-packaged-")
        self.procs = []
        debs = os.path.join(self.tmp, "debs")
        os.makedirs(debs)
        got = subprocess.run(["apt-get", "download", "uwsgi-dbg"], cwd=debs, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=180)
        if got.returncode != 0 or not os.listdir(debs):
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.skipTest(f"cannot download uwsgi-dbg: {got.stdout.strip()[-300:]}")
        self.bid = build_id(UWSGI)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(self.tmp, "servers.log"), "w")
        self.procs.append(subprocess.Popen(
            ["debuginfod", "-U", "-p", str(port), "-d", os.path.join(self.tmp, "index.sqlite"),
             "--disable-source-scan", "-c", "1", debs], stdout=self.log, stderr=subprocess.STDOUT))
        wait_for(f"{self.url}/buildid/{self.bid}/debuginfo", 90, self.procs[-1])
        self.http = f"127.0.0.1:{free_port()}"
        self.procs.append(subprocess.Popen(
            [UWSGI, "--http-socket", self.http, "--threads", "4", "--route-run", "return:200"],
            stdout=self.log, stderr=subprocess.STDOUT))
        wait_for(f"http://{self.http}/", 30, self.procs[-1])

    def tearDown(self):
        for p in reversed(self.procs):
            stop(p)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_attach_locates_the_accept_lock_with_function_file_line(self):
        server = self.procs[-1]
        load = subprocess.Popen(["wrk", "-t2", "-c32", "-d12s", f"http://{self.http}/"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs.append(load)
        time.sleep(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUGINFOD_", "CCPROF_DEBUGINFO"))}
        env.update(DEBUGINFOD_URLS=self.url, DEBUGINFOD_CACHE_PATH=os.path.join(self.tmp, "cache"))
        out = os.path.join(self.tmp, "out")
        p = subprocess.run([CCPROF, "attach", "--pid", str(server.pid), "--duration", "4", "-o", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "findings.json")) as f:
            doc = json.load(f)
        rows = [r for r in doc["debug_info"] if r["module"] == UWSGI]
        self.assertEqual([r["source"] for r in rows], ["debuginfod"], doc["debug_info"])
        self.assertTrue(rows[0]["file"].startswith(os.path.join(self.tmp, "cache")), rows[0])
        # The accept lock, named and located in uWSGI's own source.
        located = [(loc["function"], loc["file"], loc["line"]) for f in doc["findings"]
                   if f["evidence"].get("lock", {}).get("name") == "uwsgi.thunder_mutex" for loc in f["locations"]]
        self.assertIn("wsgi_req_accept", [fn for fn, _, _ in located], (located, p.stdout))
        for fn, file, line in located:
            if fn == "wsgi_req_accept":
                self.assertEqual(file, "core/utils.c")
                self.assertGreater(line, 0)


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print(f"skipped: {why}")
        sys.exit(77)
    unittest.main()
