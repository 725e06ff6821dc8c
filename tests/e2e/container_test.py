#!/usr/bin/env python3
"""Targets whose files the host cannot name (root, real BPF): a program started in its
own mount and PID namespace (`unshare`) from a tmpfs mounted only there, as in a
container, and a program whose binary was deleted while it ran. ccprof must read their
files through /proc/PID/map_files and /proc/PID/root and report them as completely as
the same program run from the host: the lock's call site as `function file:line`, no
module without debug info, code bytes for the sampler's decoder.
`ccprof report` of such a recording, where the path is gone or holds another build,
finds the module by its recorded build ID and never uses a file of another build.
usage: container_test.py BUILD_DIR [unittest args]. Skips (exit 77) when not root or
when unshare cannot create namespaces here."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import build_dir, build_id  # noqa: E402

BUILD = build_dir()
CCPROF = os.path.join(BUILD, "ccprof")
S01 = os.path.join(BUILD, "workloads", "s01-lock-contention")
S02 = os.path.join(BUILD, "workloads", "s02-read-mostly-lock")
SECONDS = "1.5"


def ccprof(*args, timeout=120):
    return subprocess.run([CCPROF, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def profile(out, *command):
    p = ccprof("run", "-o", out, "--", *command)
    if p.returncode != 0:
        raise AssertionError(f"ccprof run failed ({p.returncode}): {p.stderr}")
    with open(os.path.join(out, "findings.json")) as f:
        return json.load(f)


def report(recording, out, **env_extra):
    """`ccprof report` of a saved recording, with only the lookup settings given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUGINFOD_", "CCPROF_DEBUGINFO"))}
    env.update(env_extra)
    p = subprocess.run([CCPROF, "report", recording, "-o", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120, env=env)
    if p.returncode != 0:
        raise AssertionError(f"ccprof report failed ({p.returncode}): {p.stderr}")
    with open(os.path.join(out, "findings.json")) as f:
        return json.load(f)


def completeness(doc, app_name):
    """What must be the same as on the host: the finding, its call site, the lock's
    name, every module with debug info, and code bytes for every sample's decode."""
    losses = {l["what"]: l["count"] for l in doc["losses"]}
    lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
    loc = lc[0]["locations"][0] if lc else {}
    return {
        "lock-contention": bool(lc),
        "lock": lc[0]["evidence"]["lock"]["name"] if lc else None,
        "function": loc.get("function"),
        "file": os.path.basename(loc.get("file", "")),
        "has line": loc.get("line", 0) > 0,
        "app without debug info": sorted(k for k in losses
                                         if k.startswith("symbolize.no_debug_info") and app_name in k),
    }


def undecodable_share(doc):
    """Share of the sampler's samples whose instruction could not be found or read
    (no function around it, no code bytes): what a target's unreadable files cost."""
    losses = {l["what"]: l["count"] for l in doc["losses"]}
    lost = losses.get("sampler.no_address.no_function", 0) + losses.get("sampler.no_address.no_code", 0)
    return lost / max(1, doc["samples"]["memory_samples"])


class ContainerTargets(unittest.TestCase):
    host = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ccprof-container-")
        host = profile(os.path.join(cls.tmp, "host"), S01, f"--seconds={SECONDS}")
        cls.host = completeness(host, "s01-lock-contention")
        cls.host_undecodable = undecodable_share(host)
        # The reference itself must be complete, or the comparisons below prove nothing.
        assert cls.host["function"] == "count_word_shared" and cls.host["has line"], cls.host

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_target_in_its_own_mount_and_pid_namespace(self):
        # /…/opt-app is an empty folder on the host; the binary exists only on the tmpfs
        # the new mount namespace mounts over it, and is started there as PID 1.
        app_dir = os.path.join(self.tmp, "opt-app")
        os.makedirs(app_dir)
        script = (f"mount -t tmpfs ccprof-app {app_dir} && cp {S01} {app_dir}/app && "
                  f"exec {app_dir}/app --seconds={SECONDS}")
        doc = profile(os.path.join(self.tmp, "ns"), "unshare", "--mount", "--pid", "--fork",
                      "--propagation", "private", "sh", "-c", script)
        self.assertFalse(os.path.exists(os.path.join(app_dir, "app")), "the binary must not exist on the host")
        self.assertEqual(completeness(doc, "app"), self.host)
        # Without the target's files 57% of the samples had no function (measured).
        self.assertLessEqual(undecodable_share(doc), self.host_undecodable + 0.05)

    def test_report_of_a_saved_recording_finds_the_module_by_build_id_and_never_another_build(self):
        # The live profile read the binary through its descriptor; `ccprof report` of the
        # saved recording has only the path, which this host lacks, and the build ID.
        app_dir = os.path.join(self.tmp, "opt-app2")
        os.makedirs(app_dir)
        app = os.path.join(app_dir, "app")
        script = (f"mount -t tmpfs ccprof-app {app_dir} && cp {S01} {app} && "
                  f"exec {app} --seconds={SECONDS}")
        out = os.path.join(self.tmp, "ns2")
        profile(out, "unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", script)
        recording = os.path.join(out, "recording.ccprof")
        bid = build_id(S01)

        def app_row(doc):
            rows = [r for r in doc["debug_info"] if r["module"] == app]
            self.assertEqual(len(rows), 1, doc["debug_info"])
            return rows[0]

        def losses(doc):
            return {l["what"] for l in doc["losses"]}

        # Nowhere on this host: raw addresses, and the report says where it looked.
        gone = report(recording, os.path.join(self.tmp, "r-gone"))
        self.assertEqual(app_row(gone)["source"], "module unreadable")
        self.assertIn(f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]} (by build ID)", app_row(gone)["detail"])
        self.assertIn(f"symbolize.module_unreadable: {app}", losses(gone))
        self.assertNotEqual(completeness(gone, "app")["function"], "count_word_shared")

        # Another program at that path on the host (s02): never used, counted with its reason.
        shutil.copy(S02, app)
        other = report(recording, os.path.join(self.tmp, "r-other"))
        self.assertIn(f"symbolize.module_build_id_mismatch: {app}", losses(other))
        self.assertIn(f"{app} has build ID {build_id(S02)}, not the recorded {bid}", app_row(other)["detail"])
        for f in other["findings"]:
            for loc in f["locations"]:
                self.assertNotIn("s02_", loc.get("file", ""), f)  # no s02 function names s01's addresses

        # The very build under a build-ID folder ($CCPROF_DEBUGINFO_PATH/.build-id/xx/yyyy,
        # a link to the binary as build systems and distros lay it out): as complete as
        # on the host, the other build at the path still refused.
        ids = os.path.join(self.tmp, "ids")
        os.makedirs(os.path.join(ids, ".build-id", bid[:2]))
        kept = os.path.join(self.tmp, "kept-s01")
        shutil.copy(S01, kept)
        os.symlink(kept, os.path.join(ids, ".build-id", bid[:2], bid[2:]))
        found = report(recording, os.path.join(self.tmp, "r-found"), CCPROF_DEBUGINFO_PATH=ids)
        self.assertEqual(completeness(found, "app"), self.host)
        self.assertEqual(app_row(found)["source"], "in the binary")
        self.assertIn(f"found by build ID at {ids}/.build-id/{bid[:2]}/{bid[2:]}", app_row(found)["detail"])
        self.assertFalse(any(w.startswith(("symbolize.module_build_id_mismatch", "symbolize.module_unreadable"))
                             and w.endswith(app) for w in losses(found)), losses(found))

    def test_stripped_target_in_a_root_of_its_own_with_its_debug_file_inside(self):
        # A container image in miniature: a root (chroot) on a tmpfs only the new mount
        # namespace has, holding the stripped binary, its libraries and, by build ID, its
        # debug file. The host has neither; after the exit only ccprof's descriptors do.
        root = os.path.join(self.tmp, "rootfs")
        os.makedirs(root)
        stage = os.path.join(self.tmp, "stage")
        os.makedirs(os.path.join(stage, "opt", "app"))
        libs = [l.split("=>")[-1].split("(")[0].strip()
                for l in subprocess.run(["ldd", S01], stdout=subprocess.PIPE, text=True, check=True).stdout.splitlines()
                if "/" in l]
        for lib in libs:
            dest = os.path.join(stage, lib.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(lib, dest)
        subprocess.run(["objcopy", "--strip-all", S01, os.path.join(stage, "opt", "app", "server")], check=True)
        bid = build_id(S01)
        debug = os.path.join(stage, "usr", "lib", "debug", ".build-id", bid[:2], bid[2:] + ".debug")
        os.makedirs(os.path.dirname(debug))
        subprocess.run(["objcopy", "--only-keep-debug", S01, debug], check=True)
        script = (f"mount -t tmpfs ccprof-root {root} && cp -a {stage}/. {root}/ && "
                  f"exec chroot {root} /opt/app/server --seconds={SECONDS}")
        env_doc = profile(os.path.join(self.tmp, "chroot"), "unshare", "--mount", "--pid", "--fork",
                          "--propagation", "private", "sh", "-c", script)
        shutil.rmtree(stage)  # nothing of it stays on the host
        self.assertFalse(os.path.exists(os.path.join(root, "opt")))
        self.assertEqual(completeness(env_doc, "server"), self.host)
        # (The module's path is as /proc/PID/maps shows it to ccprof: through the chroot.)
        rows = [r for r in env_doc["debug_info"] if r["module"].endswith("/opt/app/server")]
        self.assertEqual([(r["source"], r["file"]) for r in rows],
                         [("build-id file in the target's root", f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug")])

    def test_binary_deleted_while_it_runs(self):
        app = os.path.join(self.tmp, "deleted-app")
        shutil.copy(S01, app)
        # The file goes away 0.5 s into the run; the analysis runs after the exit.
        script = f"{app} --seconds={SECONDS} & sleep 0.5; rm -f {app}; wait $!"
        doc = profile(os.path.join(self.tmp, "deleted"), "sh", "-c", script)
        self.assertFalse(os.path.exists(app))
        self.assertEqual(completeness(doc, "deleted-app"), self.host)
        self.assertLessEqual(undecodable_share(doc), self.host_undecodable + 0.05)


def namespaces_usable():
    try:
        return subprocess.run(["unshare", "--mount", "--pid", "--fork", "true"], timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root (BPF)")
        sys.exit(77)
    if not namespaces_usable():
        print("skipped: unshare cannot create mount and PID namespaces here")
        sys.exit(77)
    unittest.main()
