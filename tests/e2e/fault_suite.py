#!/usr/bin/env python3
"""Fault suite: ccprof under the faults of issue 15, each case asserting the exact
behaviour, one line per case, closing with `fault suite: N passed, N failed, N skipped`.

usage: fault_suite.py BUILD_DIR [CASE ...]   (root; exits 77 when not root)

Cases: a target that ignores SIGTERM (--duration, Ctrl-C, a second Ctrl-C), Ctrl-C from
a real terminal (a pty) and SIGINT sent to ccprof alone, SIGINT at random moments,
kill -9 of ccprof, a required collector that cannot start (the held target let go at
once), a read-only and a full output folder, attach to a gone pid and to one
that exits during the attach, hostile recordings (deep CBOR nesting, a FIFO as the
recording, maps naming a FIFO and a device), a target with corrupt .eh_frame and debug
sections, and terminal escape sequences in the target's path and argv.
"""
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build"
ONLY = sys.argv[2:]
CCPROF = os.path.join(BUILD, "ccprof")
FIXTURES = os.path.join(BUILD, "fixtures")
HOSTILE = os.path.join(BUILD, "tests", "hostile_recording")
GRACE_S = 3.0  # agent/target_stop.h kTargetGraceS
OUTPUTS = ("findings.json", "report.html", "recording.ccprof")


class Skip(Exception):
    pass


def ccprof(*args, timeout=120, **kw):
    return subprocess.run([CCPROF, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=timeout, **kw)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def load(out):
    with open(os.path.join(out, "findings.json")) as f:
        return json.load(f)


def alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def pids_with_arg(marker):
    """Processes whose command line contains `marker` (a unique argument per case)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if marker.encode() in f.read() and alive(int(d)):
                    out.append(int(d))
        except OSError:
            pass
    return out


def complete_outputs(out):
    return all(os.path.exists(os.path.join(out, f)) for f in OUTPUTS)


def no_files(d):
    return not os.path.exists(d) or os.listdir(d) == []


# A target that handles SIGINT like a well-behaved server: it takes a moment to shut
# down, writes how many interrupts it saw, and exits 0.
GRACEFUL = r"""
import os, signal, sys, time
seen = []
signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
print("ready", flush=True)
while not seen:
    time.sleep(0.01)
time.sleep(0.8)
with open(sys.argv[1], "w") as f:
    f.write(f"clean-shutdown interrupts={len(seen)}")
"""


class Pty:
    """ccprof on a pseudo-terminal, as a user runs it: ^C there is a real Ctrl-C (the
    line discipline signals the whole foreground process group, si_code SI_KERNEL)."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(CCPROF, [CCPROF, *args])
        self.output = b""

    def read_for(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.output += chunk

    def wait_for(self, text, seconds):
        end = time.time() + seconds
        while time.time() < end and text.encode() not in self.output:
            self.read_for(0.05)
        return text.encode() in self.output

    def ctrl_c(self):
        os.write(self.fd, b"\x03")

    def wait(self, seconds):
        """(exit code, seconds waited) or raises on timeout (after killing it)."""
        t0 = time.time()
        while time.time() - t0 < seconds:
            self.read_for(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.read_for(0.2)
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status), time.time() - t0
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"ccprof still running after {seconds} s; output: {self.output[-400:]!r}")


class Suite:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ccprof-faults-")
        self.mounts = []

    def graceful_target(self, name):
        """The GRACEFUL script written as NAME.py, and the file it writes when its shutdown ran."""
        script = self.path(name + ".py")
        with open(script, "w") as f:
            f.write(GRACEFUL)
        return script, self.path(name + "-done")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def mount_tmpfs(self, name, opts):
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", d], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        self.mounts.append(d)
        return d

    def cleanup(self):
        for d in reversed(self.mounts):
            subprocess.run(["umount", "-l", d], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- signals and lifetime -------------------------------------------------------

    def case_duration_is_honoured_and_the_target_stopped(self):
        marker = "31.0101"
        out = self.path("dur")
        t0 = time.time()
        p = ccprof("run", "--duration", "1", "-o", out, "--", "sleep", marker, timeout=60)
        wall = time.time() - t0
        check(p.returncode == 128 + signal.SIGTERM, f"exit {p.returncode} (want 143: SIGTERM); {p.stderr}")
        doc = load(out)
        check(doc["profile"]["duration_s"] <= 2.0, f"profiled {doc['profile']['duration_s']} s for --duration 1")
        check(wall < 1 + 8, f"ccprof took {wall:.1f} s")
        check(not pids_with_arg(marker), "the target still runs")

    def case_ignored_sigterm_gets_the_grace_period_then_sigkill(self):
        marker = "31.0202"
        out = self.path("ign")
        t0 = time.time()
        p = ccprof("run", "--duration", "1", "-o", out, "--", "sh", "-c", f"trap '' TERM; exec sleep {marker}",
                   timeout=60)
        wall = time.time() - t0
        check(p.returncode == 128 + signal.SIGKILL, f"exit {p.returncode} (want 137: SIGKILL); {p.stderr}")
        check(f"still runs {GRACE_S:.0f} s after SIGTERM: sending SIGKILL" in p.stderr, p.stderr)
        check(1 + GRACE_S <= wall < 1 + GRACE_S + 8, f"ccprof took {wall:.1f} s")
        check(load(out)["profile"]["duration_s"] <= 2.0, "the profile ran past --duration")
        check(complete_outputs(out), os.listdir(out))
        check(not pids_with_arg(marker), "the target still runs, orphaned")

    def case_ctrl_c_lets_the_target_finish_its_own_shutdown(self):
        script, done = self.graceful_target("graceful")
        out = self.path("ctrlc")
        t = Pty(["run", "-o", out, "--", sys.executable, script, done])
        check(t.wait_for("ready", 30), f"target never started: {t.output!r}")
        time.sleep(0.5)
        t.ctrl_c()
        code, waited = t.wait(60)
        check(code == 0, f"exit {code} (want the target's 0); {t.output[-300:]!r}")
        with open(done) as f:
            check(f.read() == "clean-shutdown interrupts=1", "the target did not finish its shutdown exactly once")
        check(b"interrupted" in t.output, t.output[-300:])
        check(b"SIGTERM" not in t.output, "a graceful target must not get SIGTERM")
        check(complete_outputs(out), os.listdir(out))

    def case_sigint_to_ccprof_alone_is_forwarded_once(self):
        script, done = self.graceful_target("fwd")
        out = self.path("fwd")
        p = subprocess.Popen([CCPROF, "run", "-o", out, "--", sys.executable, script, done],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        check(p.stdout.readline().strip() == "ready", "target never started")
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)  # kill -INT <ccprof>: the target does not get it itself
        _, err = p.communicate(timeout=60)
        check(p.returncode == 0, f"exit {p.returncode}; {err}")
        with open(done) as f:
            check(f.read() == "clean-shutdown interrupts=1", "the interrupt was not passed on exactly once")
        check(complete_outputs(out), os.listdir(out))

    def stubborn_target(self, name, marker):
        """`ccprof run` on a target that ignores SIGINT and SIGTERM, in a terminal, once it runs."""
        out = self.path(name)
        t = Pty(["run", "-o", out, "--", "sh", "-c", f"trap '' INT TERM; echo ready; exec sleep {marker}"])
        check(t.wait_for("ready", 30), f"target never started: {t.output!r}")
        time.sleep(0.3)
        return out, t

    def check_killed(self, t, out, marker):
        """ccprof killed the target, wrote complete outputs and left no orphan; returns how long it took."""
        code, waited = t.wait(60)
        check(code == 128 + signal.SIGKILL, f"exit {code}; {t.output[-400:]!r}")
        check(complete_outputs(out), os.listdir(out))
        check(not pids_with_arg(marker), "the target still runs, orphaned")
        return waited

    def case_ctrl_c_with_a_target_ignoring_int_and_term(self):
        marker = "31.0303"
        out, t = self.stubborn_target("stubborn", marker)
        t.ctrl_c()
        waited = self.check_killed(t, out, marker)
        check(2 * GRACE_S - 0.5 <= waited < 2 * GRACE_S + 10, f"stopped after {waited:.1f} s")
        check(b"after the interrupt: sending SIGTERM" in t.output and b"sending SIGKILL" in t.output,
              t.output[-400:])

    def case_second_ctrl_c_kills_the_target_at_once(self):
        marker = "31.0404"
        out, t = self.stubborn_target("twice", marker)
        t.ctrl_c()
        time.sleep(0.5)
        t.ctrl_c()
        waited = self.check_killed(t, out, marker)
        check(waited < GRACE_S, f"took {waited:.1f} s after the first Ctrl-C; the second must not wait")
        check(b"interrupted again: sending SIGKILL" in t.output, t.output[-400:])

    def case_sigint_at_random_moments_leaves_complete_outputs_and_no_orphan(self):
        rng = random.Random(15)
        fixture = os.path.join(FIXTURES, "contend")
        for i in range(6):
            marker = f"9{i}0000"  # iterations argument: long enough to outlive the signal
            out = self.path(f"rand{i}")
            p = subprocess.Popen([CCPROF, "run", "-o", out, "--", fixture, marker], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
            time.sleep(rng.uniform(0.1, 1.2))  # from after ccprof installed its handlers
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=60)
            if complete_outputs(out):
                check(p.returncode in (0, 130), f"run {i}: exit {p.returncode}; {err}")
            else:
                # Interrupted before the target started: a clean error, nothing written.
                check(p.returncode == 1 and "interrupted before the target started" in err,
                      f"run {i}: exit {p.returncode}, outputs {os.listdir(out) if os.path.isdir(out) else None}; {err}")
                check(no_files(out), f"run {i}: partial outputs {os.listdir(out)}")
            check(not pids_with_arg(marker), f"run {i}: the target still runs")

    def case_kill_9_of_ccprof_takes_the_target_with_it(self):
        marker = "31.0505"
        p = subprocess.Popen([CCPROF, "run", "-o", self.path("k9"), "--", "sleep", marker],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 20
        while not pids_with_arg(marker) and time.time() < end:
            time.sleep(0.05)
        check(pids_with_arg(marker), "the target never started")
        time.sleep(0.5)
        p.kill()
        p.wait()
        end = time.time() + 2
        while pids_with_arg(marker) and time.time() < end:
            time.sleep(0.05)
        check(not pids_with_arg(marker), "the target outlived ccprof's kill -9, orphaned")

    # --- outputs --------------------------------------------------------------------

    def case_read_only_output_folder_fails_before_profiling(self):
        ro = self.mount_tmpfs("ro", "ro,size=1m")
        marker = "31.0606"
        t0 = time.time()
        p = ccprof("run", "-o", os.path.join(ro, "out"), "--", "sleep", marker, timeout=60)
        check(p.returncode == 1, f"exit {p.returncode}; {p.stderr}")
        check(time.time() - t0 < 5, "the error came after the profile")
        check(re.fullmatch(r"ccprof: error: cannot create output folder \S+: Read-only file system\n", p.stderr),
              repr(p.stderr))
        check(not pids_with_arg(marker), "the target was started")
        rec = self.path("any.ccprof")
        with open(rec, "wb") as f:
            f.write(b"x")
        q = ccprof("report", rec, "-o", ro)
        check(q.returncode == 1 and "cannot write to output folder" in q.stderr and "Read-only" in q.stderr, q.stderr)

    def case_a_collector_that_cannot_start_ends_run_at_once(self):
        """The target is launched (held before exec) before the collectors start; when a
        required one cannot (here --sampler pmu on a machine without a PMU), ccprof lets
        the held child go without exec and exits with the reason. It hung for ever here
        once: the child kept the go pipe's write end open, so it never saw ccprof close
        it, and ccprof waited for it (SIGTERM could not end that either)."""
        marker = "31.0607"
        out = self.path("no-pmu")
        t0 = time.time()
        try:
            p = ccprof("run", "--sampler", "pmu", "-o", out, "--", "sleep", marker, timeout=30)
        except subprocess.TimeoutExpired:
            for pid in pids_with_arg(marker):
                os.kill(pid, signal.SIGKILL)
            raise AssertionError("ccprof run did not end within 30 s of a collector failing to start")
        if p.returncode == 0:
            raise Skip("this machine has a PMU: --sampler pmu started")
        check(p.returncode == 1, f"exit {p.returncode}; {p.stderr}")
        check(time.time() - t0 < 10, f"took {time.time() - t0:.1f} s")
        check(re.fullmatch(r"ccprof: error: --sampler pmu is not available: [^\n]+\n", p.stderr), repr(p.stderr))
        check(not pids_with_arg(marker), "the target was started or left behind")
        check(not os.path.exists(os.path.join(out, "findings.json")), "outputs written")

    def case_full_disk_leaves_no_partial_set(self):
        full = self.mount_tmpfs("full", "size=160k")
        fixture = os.path.join(FIXTURES, "contend")
        p = ccprof("run", "-o", full, "--", fixture, "1500", timeout=120)
        check(p.returncode == 1, f"exit {p.returncode}; {p.stderr}")
        check(re.search(r"cannot write \w+ \S+ \(no output was changed\): No space left on device", p.stderr),
              p.stderr)
        check(os.listdir(full) == [], f"left behind: {os.listdir(full)}")
        # An earlier complete set in the folder stays as it was.
        good = self.path("good")
        check(ccprof("run", "-o", good, "--", "true").returncode == 0, "a small profile failed")
        for f in OUTPUTS:
            shutil.copy(os.path.join(good, f), full)
        before = {f: open(os.path.join(full, f), "rb").read() for f in OUTPUTS}
        p = ccprof("run", "-o", full, "--", fixture, "1500", timeout=120)
        check(p.returncode == 1 and "No space left" in p.stderr, p.stderr)
        check(sorted(os.listdir(full)) == sorted(OUTPUTS), f"{os.listdir(full)}")
        check(all(open(os.path.join(full, f), "rb").read() == before[f] for f in OUTPUTS),
              "the earlier set was partly replaced")

    # --- attach ---------------------------------------------------------------------

    def case_attach_to_a_gone_pid_says_so(self):
        z = subprocess.Popen(["true"])
        time.sleep(0.3)  # exited, not reaped: a zombie
        for pid in (z.pid, 4194300):
            p = ccprof("attach", "--pid", str(pid), "-o", self.path(f"gone{pid}"), timeout=30)
            check(p.returncode == 1, f"pid {pid}: exit {p.returncode}")
            check(p.stderr == f"ccprof: error: cannot attach to pid {pid}: no such process\n", repr(p.stderr))
            check(not os.path.exists(self.path(f"gone{pid}/findings.json")), "outputs written")
        z.wait()

    def case_attach_to_a_target_that_exits_during_the_attach(self):
        seen = set()
        for life in (0.02, 0.08, 0.15, 0.3, 0.6):
            t = subprocess.Popen(["sleep", str(life)])
            out = self.path(f"late{life}")
            p = ccprof("attach", "--pid", str(t.pid), "--duration", "20", "-o", out, timeout=60)
            t.wait()
            if p.returncode == 0:
                # The probes were live first: what was collected, and a word that it ended.
                check(re.search(rf"pid {t.pid} exited after [0-9.]+ s of profiling", p.stderr), p.stderr)
                check(complete_outputs(out), os.listdir(out))
                seen.add("exited-mid-profile")
            else:
                check(p.returncode == 1, f"exit {p.returncode}; {p.stderr}")
                check(p.stderr in (f"ccprof: error: cannot attach to pid {t.pid}: no such process\n",
                                   f"ccprof: error: pid {t.pid} exited while ccprof attached to it: nothing to "
                                   "profile\n"), repr(p.stderr))
                check(no_files(out), "outputs of a profile that never ran")
                seen.add("gone")
        check(seen, "no attempt ran")

    # --- hostile input --------------------------------------------------------------

    def case_deeply_nested_recording_is_a_clear_error(self):
        rec = self.path("nested.ccprof")
        subprocess.run([HOSTILE, "nested", "131072", rec], check=True)
        p = ccprof("report", rec, "-o", self.path("nested-out"), timeout=30)
        check(p.returncode == 1, f"exit {p.returncode} (a crash is negative); {p.stderr[-300:]}")
        check(p.stderr == f"ccprof: error: {rec} is corrupt: nested deeper than 64 levels\n", repr(p.stderr))
        check(not os.path.exists(self.path("nested-out/findings.json")), "outputs written")

    def case_recording_that_is_a_fifo_or_a_device_is_refused_at_once(self):
        fifo = self.path("rec.fifo")
        os.mkfifo(fifo)
        for path, kind in ((fifo, "a FIFO"), ("/dev/zero", "a character device")):
            p = ccprof("report", path, "-o", self.path("fifo-out"), timeout=10)
            check(p.returncode == 1, f"{path}: exit {p.returncode}")
            check(p.stderr == f"ccprof: error: will not open recording {path}: it is {kind}\n", repr(p.stderr))

    def case_maps_naming_a_fifo_a_device_or_kcore_do_not_hang_report(self):
        src = self.path("src")
        check(ccprof("run", "-o", src, "--", os.path.join(FIXTURES, "contend"), "800").returncode == 0, "run failed")
        fifo = self.path("maps.fifo")
        os.mkfifo(fifo)
        for name, target in (("fifo", fifo), ("dev", "/dev/zero"), ("kcore", "/proc/kcore")):
            rec = self.path(f"maps-{name}.ccprof")
            subprocess.run([HOSTILE, "maps-to", target, os.path.join(src, "recording.ccprof"), rec], check=True,
                           stdout=subprocess.DEVNULL)
            out = self.path(f"maps-{name}-out")
            p = ccprof("report", rec, "-o", out, timeout=60)  # hung forever on the FIFO before
            check(p.returncode == 0, f"{name}: exit {p.returncode}; {p.stderr[-300:]}")
            doc = load(out)
            check(doc["locks"], f"{name}: the profile's locks were lost with the symbols")

    def case_corrupt_eh_frame_and_debug_sections_cost_symbols_not_the_profile(self):
        fixture = os.path.join(FIXTURES, "contend")
        heads = subprocess.run(["readelf", "-SW", fixture], capture_output=True, text=True, check=True).stdout
        sections = {}
        for m in re.finditer(r"\]\s+(\.\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", heads):
            sections[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
        rng = random.Random(15)
        plans = [(".eh_frame_hdr", 12, bytes(12)), (".eh_frame", 0, bytes(12)), (".eh_frame", 24, bytes(12))]
        for s in (".debug_info", ".debug_line", ".debug_abbrev", ".eh_frame"):
            if s in sections:
                off, size = sections[s]
                plans.append((s, rng.randrange(0, max(1, size - 16)), bytes(rng.randrange(256) for _ in range(16))))
        for i, (sec, at, data) in enumerate(plans):
            check(sec in sections, f"{sec} not in the fixture")
            exe = self.path(f"contend-corrupt{i}")
            shutil.copy(fixture, exe)
            with open(exe, "r+b") as f:
                f.seek(sections[sec][0] + at)
                f.write(data)
            out = self.path(f"corrupt{i}")
            p = ccprof("run", "-o", out, "--", exe, "600", timeout=120)
            check(p.returncode == 0, f"{sec}+{at}: run exit {p.returncode}; {p.stderr[-300:]}")
            check(complete_outputs(out), f"{sec}+{at}: {os.listdir(out)}")
            q = ccprof("report", os.path.join(out, "recording.ccprof"), "-o", out + "-again", timeout=120)
            check(q.returncode == 0, f"{sec}+{at}: report exit {q.returncode}; {q.stderr[-300:]}")
            check(load(out)["locks"], f"{sec}+{at}: the locks were lost")

    def case_escape_sequences_in_path_and_argv_are_shown_not_sent(self):
        d = self.path("\x1b[2J\x1b[Hdir")
        os.makedirs(d)
        exe = os.path.join(d, "true\x1b]0;owned\x07")
        shutil.copy(shutil.which("true"), exe)
        out = self.path("esc")
        p = subprocess.run([CCPROF, "-v", "run", "-o", out, "--", exe, "arg\x1b[31mred", "two\nlines"],
                           capture_output=True, timeout=60)
        check(p.returncode == 0, f"exit {p.returncode}; {p.stderr[-300:]!r}")
        for stream, text in (("stdout", p.stdout), ("stderr", p.stderr)):
            bad = [c for c in text if (c < 0x20 and c not in (0x0a,)) or c == 0x7f]
            check(not bad, f"{stream} has raw control bytes {sorted(set(bad))}")
        check(b"true\\x1b]0;owned\\x07 arg\\x1b[31mred two\\nlines" in p.stdout, p.stdout[:300])
        q = subprocess.run([CCPROF, "report", os.path.join(out, "recording.ccprof"), "-o", out + "2"],
                           capture_output=True, timeout=60)
        check(q.returncode == 0, q.stderr)
        check(b"\x1b" not in q.stdout and b"arg\\x1b[31mred" in q.stdout, q.stdout[:300])
        r = subprocess.run([CCPROF, "run", "-o", out + "3", "--", os.path.join(d, "missing\x1b[2J")],
                           capture_output=True, timeout=60)
        check(r.returncode == 1 and b"\x1b" not in r.stderr and b"missing\\x1b[2J" in r.stderr, r.stderr)


def main():
    if os.geteuid() != 0:
        print("fault suite: skipped: needs root to load BPF programs (run the tests as root)")
        return 77
    suite = Suite()
    cases = [n for n in dir(Suite) if n.startswith("case_")]
    if ONLY:
        cases = [n for n in cases if any(o in n for o in ONLY)]
    cases.sort(key=lambda n: list(Suite.__dict__).index(n))  # in the order written
    passed = failed = skipped = 0
    try:
        for name in cases:
            t0 = time.time()
            try:
                getattr(suite, name)()
                passed += 1
                print(f"PASS  {name[5:]}  ({time.time() - t0:.1f} s)", flush=True)
            except Skip as e:
                skipped += 1
                print(f"SKIP  {name[5:]}: {e}", flush=True)
            except Exception as e:  # an assertion, a timeout, a crash of the case itself
                failed += 1
                detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc(limit=3)
                print(f"FAIL  {name[5:]}  ({time.time() - t0:.1f} s): {detail}", flush=True)
    finally:
        suite.cleanup()
    print(f"fault suite: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
