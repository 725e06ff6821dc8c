#!/usr/bin/env python3
"""`ccprof serve` end to end (root): an s01 bad workload found by --comm, windows of 1 s,
scraped over HTTP on 127.0.0.1 like Prometheus and pprof clients do; the target exits
and restarts; SIGTERM stops the agent. usage: serve_test.py BUILD_DIR"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import build_dir, expect_refusal, main_as_root  # noqa: E402

BUILD = build_dir()
CCPROF = os.path.join(BUILD, "ccprof")
S01 = os.path.join(BUILD, "workloads", "s01-lock-contention")
COMM = "s01-lock-conten"  # the kernel's 15-character comm
TARGET = f'comm="{COMM}"'  # the label of every series of the --comm target
UP = f"ccprof_target_up{{{TARGET}}}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def read_text(path):
    with open(path) as f:
        return f.read()


def metrics(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


class Serve(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ccprof-serve-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workloads = []
        self.serve = subprocess.Popen([CCPROF, "serve", "--listen", f"127.0.0.1:{self.port}", "--comm", COMM,
                                       "--window", "1s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def tearDown(self):
        for w in self.workloads:
            if w.poll() is None:
                w.kill()
            w.wait()
        if self.serve.poll() is None:
            self.serve.kill()
        self.serve.communicate()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_workload(self, seconds):
        w = subprocess.Popen([S01, "--variant=bad", f"--seconds={seconds}"], stdout=subprocess.DEVNULL)
        self.workloads.append(w)
        return w

    def scrape(self):
        status, body = get(self.base + "/metrics")
        self.assertEqual(status, 200)
        return metrics(body.decode())

    def wait_for(self, pred, what, timeout=40):
        end = time.time() + timeout
        while time.time() < end:
            try:
                m = self.scrape()
                if pred(m):
                    return m
            except (urllib.error.URLError, ConnectionError):
                pass
            if self.serve.poll() is not None:
                self.fail(f"ccprof serve exited {self.serve.returncode}: {self.serve.stderr.read()}")
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}")

    def test_serves_metrics_findings_and_pprof_and_follows_a_restart(self):
        w = self.start_workload(10)  # long enough for every check below to run while it does
        wait_key = (f'ccprof_lock_wait_seconds_total{{{TARGET},lock="g_table_mutex",'
                    'site="count_word_shared (s01_lock_contention.cc:27)"}')
        m = self.wait_for(lambda m: m.get("ccprof_windows_total", 0) >= 2, "two windows")
        self.assertEqual(m[UP], 1)
        self.assertIn(wait_key, m, sorted(m))
        self.assertGreater(m[wait_key], 0)
        self.assertGreater(m[f'ccprof_lock_waits_total{{{TARGET},lock="g_table_mutex"}}'], 0)
        self.assertGreater(m[f'ccprof_offcpu_seconds_total{{{TARGET},reason="lock wait"}}'], 0)
        self.assertEqual(m[f'ccprof_findings{{{TARGET},kind="lock-contention"}}'], 1)
        # Bound only to the address given: the listening socket is 127.0.0.1, not 0.0.0.0.
        with open("/proc/net/tcp") as f:
            rows = [l.split() for l in f.read().splitlines()[1:]]
        listening = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == self.port]
        self.assertEqual(listening, [f"0100007F:{self.port:04X}"])
        # /metrics answers fast while profiling.
        times = []
        for _ in range(10):
            t = time.perf_counter()
            self.scrape()
            times.append(time.perf_counter() - t)
        print(f"FIGURE /metrics while profiling: median {statistics.median(times) * 1e3:.1f} ms, "
              f"max {max(times) * 1e3:.1f} ms (busy 2-CPU VM)")
        self.assertLess(statistics.median(times), 0.05)
        # Counters only grow.
        later = self.wait_for(lambda m2: m2["ccprof_windows_total"] > m["ccprof_windows_total"], "another window")
        self.assertGreaterEqual(later[wait_key], m[wait_key])
        # /findings: the last window's findings.json; the counter holds at least that window.
        status, body = get(self.base + "/findings")
        doc = json.loads(body)
        lock = [l for l in doc["locks"] if l["name"] == "g_table_mutex"]
        self.assertTrue(lock)
        self.assertGreaterEqual(later[wait_key] * 1.0001 + 1e-9,
                                sum(s["wait_s"] for s in lock[0]["sites"] if "count_word_shared" in s["function"]))
        # A pprof profile that go tool pprof reads, naming the contended function: with
        # ?seconds=2.5, the newest windows (of 1 s) that cover 2.5 s, merged.
        pb = os.path.join(self.tmp, "contention.pb.gz")
        with urllib.request.urlopen(self.base + "/debug/pprof/contention?seconds=2.5", timeout=5) as r:
            body = r.read()
            self.assertGreaterEqual(float(r.headers["X-Ccprof-Profile-Seconds"]), 2.5)
        # Without ?seconds: the newest window alone, as long as the window gauge says (a
        # window is longer than --window while the analysis of earlier ones lags behind,
        # on a busy VM: the probes stay attached, so it grows rather than losing waits).
        lengths = {self.scrape()["ccprof_window_seconds"]}
        with urllib.request.urlopen(self.base + "/debug/pprof/contention", timeout=5) as r:
            alone = float(r.headers["X-Ccprof-Profile-Seconds"])
        lengths.add(self.scrape()["ccprof_window_seconds"])  # a window may have come in between
        self.assertTrue(any(abs(alone - w) < 2e-3 for w in lengths), (alone, lengths))
        with open(pb, "wb") as f:
            f.write(body)
        top = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=delay", pb], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=300)
        self.assertEqual(top.returncode, 0, top.stderr)
        self.assertIn("count_word_shared", top.stdout)
        status, body = get(self.base + "/debug/pprof/offcpu")
        self.assertEqual(body[:2], b"\x1f\x8b")
        with self.assertRaises(urllib.error.HTTPError) as e:
            get(self.base + "/nope")
        self.assertEqual(e.exception.code, 404)
        # The target exits: the agent keeps answering and says no target is up.
        w.wait(timeout=30)
        gone = self.wait_for(lambda m: m[UP] == 0, "target_up 0 after the exit")
        # It restarts: --comm finds it again and windows resume.
        self.start_workload(6)
        self.wait_for(lambda m: m[UP] == 1, "the restarted target")
        self.wait_for(lambda m: m["ccprof_windows_total"] > gone["ccprof_windows_total"] and
                      m.get(wait_key, 0) > gone[wait_key], "a window with lock waits on the restarted target")
        # SIGTERM: a clean exit.
        self.serve.send_signal(signal.SIGTERM)
        out, err = self.serve.communicate(timeout=30)
        self.assertEqual(self.serve.returncode, 0, err)

    def test_prometheus_scrapes_the_lock_wait(self):
        """A real Prometheus (Debian's) scrapes the agent every second; PromQL returns the
        lock wait that /metrics serves, within 10% of what `ccprof attach` measures on the
        very same process: one s01 bad run, held before its exec until both profilers are
        attached, so both see the same waits for the same seconds (two separate runs
        differ by up to ~20% on a busy VM, profiler/thresholds.h). With windows of 1 s,
        this holds only if no wait falls between two windows."""
        prom = shutil.which("prometheus")
        if not prom:
            self.fail("prometheus not found: run scripts/setup.sh (Debian prometheus)")
        self.serve.kill()
        self.serve.communicate()
        seconds = 5
        held = subprocess.Popen(["sh", "-c", f'read go; exec "{S01}" --variant=bad --seconds={seconds}'],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.workloads.append(held)
        self.serve = subprocess.Popen([CCPROF, "serve", "--listen", f"127.0.0.1:{self.port}", "--pid", str(held.pid),
                                       "--window", "1s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pport = free_port()
        cfg = os.path.join(self.tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "scrape_configs:\n"
                    "  - job_name: ccprof\n"
                    f"    static_configs: [{{targets: ['127.0.0.1:{self.port}']}}]\n")
        p = subprocess.Popen([prom, f"--config.file={cfg}", f"--storage.tsdb.path={self.tmp}/tsdb",
                              f"--web.listen-address=127.0.0.1:{pport}"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        out = os.path.join(self.tmp, "attach")
        attach_log = os.path.join(self.tmp, "attach.log")
        with open(attach_log, "w") as log:
            attach = subprocess.Popen([CCPROF, "-v", "attach", "--pid", str(held.pid), "-o", out],
                                      stdout=subprocess.DEVNULL, stderr=log)
        try:
            # Both attached (serve publishes its first window after attaching), then the exec.
            up = f'ccprof_target_up{{pid="{held.pid}"}}'
            self.wait_for(lambda m: m.get(up) == 1 and m.get("ccprof_windows_total", 0) >= 1,
                          "serve's first window on the held process", timeout=60)
            end = time.time() + 60
            while "attached to pid" not in read_text(attach_log):
                self.assertIsNone(attach.poll(), read_text(attach_log)[-2000:])
                self.assertLess(time.time(), end, "ccprof attach did not attach in 60 s")
                time.sleep(0.2)
            held.stdin.write(b"go\n")
            held.stdin.close()
            self.assertEqual(held.wait(timeout=120), 0)
            self.assertEqual(attach.wait(timeout=180), 0, read_text(attach_log)[-2000:])
            # The agent publishes the window the exit cut short, then Prometheus scrapes it.
            self.wait_for(lambda m: m[up] == 0, "the end of the last window")
            time.sleep(2.5)
            served = sum(v for k, v in self.scrape().items()
                         if k.startswith(f'ccprof_lock_wait_seconds_total{{pid="{held.pid}",lock="g_table_mutex"'))
            query = 'sum(ccprof_lock_wait_seconds_total{lock="g_table_mutex"})'
            end = time.time() + 20
            value = None
            while time.time() < end:
                try:
                    _, body = get(f"http://127.0.0.1:{pport}/api/v1/query?" +
                                  urllib.parse.urlencode({"query": query}))
                    res = json.loads(body)["data"]["result"]
                    if res and abs(float(res[0]["value"][1]) - served) <= 0.01 * served:
                        value = float(res[0]["value"][1])
                        break
                except (urllib.error.URLError, ConnectionError, KeyError, ValueError):
                    pass
                time.sleep(0.5)
            self.assertIsNotNone(value, f"PromQL never returned the served {served:.3f} s")
        finally:
            p.terminate()
            p.wait(timeout=30)
            if attach.poll() is None:
                attach.kill()
                attach.wait()
        with open(os.path.join(out, "findings.json")) as f:
            attach_s = sum(l["total_wait_s"] for l in json.load(f)["locks"] if l["name"] == "g_table_mutex")
        print(f"FIGURE lock wait of one s01 bad run of {seconds} s, windows of 1 s: Prometheus {value:.3f} s, "
              f"ccprof attach {attach_s:.3f} s ({(value / attach_s - 1) * 100:+.1f}%) (busy 2-CPU VM)")
        self.assertGreater(attach_s, 0)
        self.assertLessEqual(abs(value / attach_s - 1), 0.10)

    def test_several_targets_each_with_its_own_label_and_findings(self):
        """--pid twice: one session per target; every series carries the target's pid as
        given, /findings lists both, ?pid= picks one, and one target's exit leaves the
        other profiled."""
        self.serve.kill()
        self.serve.communicate()
        a, b = self.start_workload(12), self.start_workload(12)
        self.serve = subprocess.Popen([CCPROF, "serve", "--listen", f"127.0.0.1:{self.port}", "--pid", str(a.pid),
                                       "--pid", str(b.pid), "--window", "1s"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        waits = [f'ccprof_lock_waits_total{{pid="{w.pid}",lock="g_table_mutex"}}' for w in (a, b)]
        m = self.wait_for(lambda m: all(m.get(k, 0) > 0 for k in waits), "lock waits of both targets", timeout=60)
        for w in (a, b):
            self.assertEqual(m[f'ccprof_target_up{{pid="{w.pid}"}}'], 1)
            self.assertEqual(m[f'ccprof_findings{{pid="{w.pid}",kind="lock-contention"}}'], 1)
        self.assertFalse([k for k in m if k.startswith("ccprof_lock_waits_total{lock=")], "a series without its target")
        _, body = get(self.base + "/findings")
        doc = json.loads(body)
        self.assertEqual(sorted(t["target"] for t in doc["targets"]), sorted(f"pid={w.pid}" for w in (a, b)))
        for t in doc["targets"]:
            self.assertTrue([l for l in t["findings"]["locks"] if l["name"] == "g_table_mutex"], t["target"])
        _, body = get(self.base + f"/findings?pid={a.pid}")
        self.assertEqual(json.loads(body)["target"]["pid"], a.pid)
        with self.assertRaises(urllib.error.HTTPError) as e:
            get(self.base + "/findings?pid=1")
        self.assertEqual(e.exception.code, 404)
        # One target ends: it is down, the other is still profiled.
        a.kill()
        a.wait()
        before = self.wait_for(lambda m: m[f'ccprof_target_up{{pid="{a.pid}"}}'] == 0, "the first target down")
        self.wait_for(lambda m: m[waits[1]] > before[waits[1]] and m[f'ccprof_target_up{{pid="{b.pid}"}}'] == 1,
                      "more waits of the second target")
        self.serve.send_signal(signal.SIGTERM)
        _, err = self.serve.communicate(timeout=30)
        self.assertEqual(self.serve.returncode, 0, err)

    def test_the_memory_sampler_lowers_its_rate_while_dear_and_raises_it_between_windows_once_cheap(self):
        """A target busy for 6 s, then asleep, under a sampler budget no busy target
        meets: the rate is halved while it is busy; then each window far under budget
        doubles it for the next, back to the rate asked for. On the scheduler tick, whose
        interrupt is not ccprof's, an idle target costs the sampler nothing, whatever else
        the machine runs."""
        self.serve.kill()
        self.serve.communicate()
        busy = subprocess.Popen([sys.executable, "-c",
                                 "import time\nt = time.time()\nwhile time.time() - t < 6: pass\ntime.sleep(60)"])
        self.workloads.append(busy)
        self.serve = subprocess.Popen([CCPROF, "serve", "--listen", f"127.0.0.1:{self.port}", "--pid", str(busy.pid),
                                       "--window", "2s", "--mode", "default", "--sampler", "decode",
                                       "--sampler-clock", "tick", "--sampler-budget", "0.005"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        windows, seen = [], set()
        end = time.time() + 60
        while time.time() < end:
            time.sleep(0.5)
            try:
                _, body = get(self.base + "/findings")
            except (urllib.error.URLError, ConnectionError):
                continue
            doc = json.loads(body)
            ms = doc.get("profile", {}).get("memory_sampler")
            if not ms or doc["profile"].get("duration_s") in seen:
                continue
            seen.add(doc["profile"]["duration_s"])
            if ms.get("events") != ["sched-tick"]:
                self.skipTest(f"the scheduler tick cannot be used here: {ms.get('events')}")
            windows.append(ms)
            hz = [w["frequency_hz"] for w in windows]
            lowered = [w for w in windows if any(c["why"] == "over budget" for c in w["rate_changes"])]
            if lowered and hz[-1] == windows[0]["requested_hz"] and len(windows) >= 4:
                break
        summary = [(w["frequency_hz"], [(c["hz"], c["why"]) for c in w["rate_changes"]]) for w in windows]
        self.assertTrue(windows, "no window published")
        asked = windows[0]["requested_hz"]
        lowered = [i for i, w in enumerate(windows) if any(c["why"] == "over budget" for c in w["rate_changes"])]
        self.assertTrue(lowered, summary)
        self.assertLess(min(w["frequency_hz"] for w in windows), asked, summary)
        raised = [i for i, w in enumerate(windows) if any(c["why"] == "far under budget" for c in w["rate_changes"])]
        self.assertTrue(raised and raised[-1] > lowered[0], summary)
        self.assertEqual(windows[-1]["frequency_hz"], asked, summary)
        m = self.scrape()
        self.assertEqual(m.get(f'ccprof_memory_sampler_hz{{pid="{busy.pid}"}}'), asked, m)

    def test_bad_listen_address_is_a_one_line_error(self):
        self.serve.kill()
        self.serve.communicate()
        for listen in ("nonsense", "127.0.0.1:0", "1.2.3:80"):
            p = subprocess.run([CCPROF, "serve", "--listen", listen, "--pid", "1"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        # A port already taken.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        try:
            expect_refusal(self, [CCPROF, "serve", "--listen", f"127.0.0.1:{s.getsockname()[1]}", "--pid", "1"],
                           "cannot listen")
        finally:
            s.close()


if __name__ == "__main__":
    main_as_root("serve_test")
