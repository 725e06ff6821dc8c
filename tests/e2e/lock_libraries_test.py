#!/usr/bin/env python3
"""Locks beyond glibc's, end to end (issue 17): usage: lock_libraries_test.py BUILD_DIR.
Needs root (BPF); exits 77 (skip) otherwise.

- glibc: with two threads, the thread that held the mutex when a wait began (__owner)
  is the one whose FUTEX_WAKE ended it, so the two owner evidences must agree.
- absl::Mutex with Abseil's deadlock detector left on (Debian's default): the detector's
  own static SpinLock, taken in every Lock and Unlock, is named as Abseil's, with its
  remedy (turn the detector off), and is absent with the detector off.
- A std::mutex in a heap object (s01-heap-mutex): named by the type its lock call's
  argument points to, from DWARF ("Table.mu (via t)").
- absl::Mutex: its waiters sleep on per-thread semaphores; the waits inside its slow path
  are charged to the mutex (g_table_mu), its owners are the wakers, and its spinning in
  absl::Mutex::Lock is never a cas-retry-storm.
- oneTBB's tbb::mutex (when built): it spins and yields, then sleeps in libtbb's address
  wait on a per-thread semaphore; the waits inside tbb::detail::r1::wait_on_address are
  charged to the mutex (g_table, whose first member it is), its owners are the wakers;
  its sched_yield() calls before that, in tbb::mutex::lock where the mutex is not known,
  are charged to it because that code was seen taking no other lock; in the sharded
  twin, the same lock() takes 64 mutexes: its yields are marked, not charged.
- oneTBB's tbb::spin_mutex (when built): it never sleeps; its inlined lock()'s exchange
  of a static address names the lock, and a row is made for it from its yields, at the
  user's line; the sharded twin's exchange is through a register: nothing is charged.
- Rust std::sync::Mutex and parking_lot (when built): the lock's site is the workload's
  line, names are demangled (v0), the heap lock is named by the DWARF type of the
  variable its slow path's argument is in, owners come from the wakers, parking_lot's
  waits on per-thread words, and its sched_yield() calls in lock_slow, are charged to its
  RawMutex. Their RwLocks (s02 fixed twins): readers that take them shared raise no
  read-mostly-lock."""
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


def doc_loss(doc, what):
    return sum(l["count"] for l in doc.get("losses", []) if l["what"] == what)


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

    def test_absl_deadlock_detection_is_its_own_finding(self):
        # Debian's libabsl is built without NDEBUG: its deadlock detector takes one static
        # SpinLock in every absl::Mutex Lock and Unlock, so the sharded twin, left at the
        # library's default, serialises on it (~4x slower, measured). ccprof must name
        # that lock, not a shard (nor the user's argument), at the user's lock call, and
        # advise turning the detector off; with it off, the same program has no such row.
        doc = profile("s01-absl-mutex", "--variant=fixed", "--seconds=1.5", "--absl-deadlock-detection=library-default")
        lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
        self.assertTrue(lc, [f["kind"] for f in doc["findings"]])
        f = lc[0]
        self.assertEqual(f["subject"]["name"], "Abseil's deadlock-detection lock")
        self.assertEqual(f["remedy"]["kind"], "disable-debug-checks")
        l = f["evidence"]["lock"]
        self.assertEqual(l["region"], "global")
        self.assertTrue(l["region_detail"].startswith("libabsl_synchronization.so"), l["region_detail"])
        self.assertEqual(l["library_internal"]["library"], "Abseil")
        # the threads spin for it in Abseil far more than they sleep on it
        self.assertGreater(l["library_internal"]["cpu_s_in_library"], l["total_wait_s"])
        self.assertGreater(f["cost"]["thread_seconds"], l["total_wait_s"])
        loc = f["locations"][0]
        self.assertEqual((os.path.basename(loc["file"]), loc["function"]), ("s01_absl_mutex.cc", "count_word_sharded"))
        off = profile("s01-absl-mutex", "--variant=fixed", "--seconds=1.5")
        self.assertFalse([l for l in off["locks"] if l.get("library_internal")], off["locks"][:3])

    def test_heap_mutex_is_named_by_its_type(self):
        # A std::mutex member of a `new Table`: no symbol, so named by the type the lock
        # call's argument points to (DWARF: the workload's `Table* t`), at the user's line.
        # -O0 too: the pointer is reloaded from `t`'s stack slot and handed to the guard's
        # out-of-line constructor (its second argument); and the section's work, in
        # record() out of line, stores (it is no read-mostly lock, although its sampled
        # accesses are nearly all the digest loop's loads).
        for build in ("", "O0"):
            with self.subTest(build=build or "O2"):
                doc = profile(os.path.join(build, "s01-heap-mutex"), "--variant=bad", "--seconds=1.5")
                kinds = [f["kind"] for f in doc["findings"]]
                lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
                self.assertTrue(lc, kinds)
                self.assertNotIn("read-mostly-lock", kinds)
                l = lc[0]["evidence"]["lock"]
                self.assertEqual(l["region"], "heap")
                self.assertEqual(l["name"], "Table.mu (via t)")
                loc = lc[0]["locations"][0]
                self.assertEqual((os.path.basename(loc["file"]), loc["function"]),
                                 ("s01_heap_mutex.cc", "count_word_shared"))

    def test_program_spinlock_is_a_lock_not_a_hot_atomic(self):
        # The program's own atomic_flag spin lock never sleeps or yields: its samples in
        # the acquisition loop are its waiting. -O2: lock() inlined, the word a static
        # address, holders sampled inside the section. -O0: SpinLock::lock() out of line
        # (its word from `this`), the site its caller's line by frame pointers. Never a
        # hot-atomic / cas-retry-storm (a counter's remedy) on its flag; the sharded twin
        # is clean.
        # -O0 runs 5 s: its loop's own accesses name the lock word rarely (most of its samples
        # land after the `pause`, on the reload of `this` from the stack: 3-25 of ~3,600 in
        # 5 s, and a fresh-clone CI run once saw fewer than the three a row needs), but every
        # sample's caller passes &g_table (profiler/spin_locks.cc passed_words): the row
        # counts those, so that it no longer hangs on a handful of samples.
        for build in ("", "O0"):
            seconds = "--seconds=5" if build == "O0" else "--seconds=1.5"
            with self.subTest(build=build or "O2"):
                doc = profile(os.path.join(build, "s01-program-spinlock"), "--variant=bad", seconds)
                kinds = [f["kind"] for f in doc["findings"]]
                self.assertNotIn("hot-atomic", kinds)
                self.assertNotIn("cas-retry-storm", kinds)
                lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
                self.assertTrue(lc, kinds)
                l = lc[0]["evidence"]["lock"]
                self.assertIn(l["name"], ("g_table", "g_table.mu"))  # mu is at offset 0 of g_table
                self.assertEqual((l["waits"], l["yields"]), (0, 0))
                self.assertGreater(l["spin_samples"], 0)
                self.assertGreaterEqual(len(l["waiters"]), 2)
                if not build:
                    self.assertEqual(l["owner_source"], "sampled in section")
                    self.assertLessEqual({o["tid"] for o in l["owners"]}, {w["tid"] for w in l["waiters"]})
                loc = lc[0]["locations"][0]
                self.assertEqual((os.path.basename(loc["file"]), loc["function"]),
                                 ("s01_program_spinlock.cc", "count_word_shared"))
                with open(loc["file"]) as f:
                    self.assertIn("PROBLEM", f.read().splitlines()[loc["line"] - 1], loc)
                # Its waiters may still spin (4 threads on 2 CPUs: a shard's holder preempted),
                # over words picked at run time: counted, never charged to one shard.
                fixed = profile(os.path.join(build, "s01-program-spinlock"), "--variant=fixed", seconds)
                self.assertFalse([f["kind"] for f in fixed["findings"] if f["kind"] in
                                  ("lock-contention", "hot-atomic", "cas-retry-storm")], fixed["findings"])

    def test_tbb_mutex_waits_are_charged_to_the_mutex(self):
        if not os.path.exists(os.path.join(WORKLOADS, "s01-tbb-mutex")):
            self.skipTest("s01-tbb-mutex not built (Debian's libtbb-dev missing)")
        doc = profile("s01-tbb-mutex", "--variant=bad", "--seconds=1.5")
        kinds = [f["kind"] for f in doc["findings"]]
        self.assertNotIn("cas-retry-storm", kinds)
        self.assertTrue(doc["locks"], kinds)
        l = doc["locks"][0]
        self.assertIn(l["name"], ("g_table", "g_table.mu"))  # mu is at offset 0 of g_table
        self.assertEqual(l["type"], "mutex")
        # Its yields before the probed slow path, in tbb::mutex::lock, are the mutex's: that
        # code's sampled waits and accesses named g_table only. Most of its yields.
        unattributed = doc_loss(doc, "locks.yields_unattributed")
        self.assertGreater(l["yields"], 0, l)
        self.assertGreater(l["yields"], unattributed, l)
        # the sampled waits slept on TBB's per-thread semaphores, not on the mutex word
        self.assertGreater(l["waits_on_other_words"], 0)
        self.assertEqual(l["owner_source"], "waker")
        self.assertGreaterEqual(len(l["owners"]), 2, l["owners"])
        site = l["sites"][0]
        self.assertEqual(os.path.basename(site["file"]), "s01_tbb_mutex.cc")
        self.assertEqual(site["function"], "count_word_shared")

    def test_tbb_mutex_sharded_yields_are_marked_not_charged(self):
        if not os.path.exists(os.path.join(WORKLOADS, "s01-tbb-mutex")):
            self.skipTest("s01-tbb-mutex not built (Debian's libtbb-dev missing)")
        doc = profile("s01-tbb-mutex", "--variant=fixed", "--seconds=1.5")
        # One out-of-line tbb::mutex::lock for 64 shards: its yields name no one shard.
        several = doc_loss(doc, "locks.yields_site_several_locks")
        charged = sum(l["yields"] for l in doc["locks"])
        if several + charged == 0:
            self.skipTest("the sharded run made no lock library yields")
        self.assertLess(charged * 10, several, [(l["name"], l["yields"]) for l in doc["locks"][:3]])
        self.assertNotIn("lock-contention", [f["kind"] for f in doc["findings"]])

    def test_tbb_spin_mutex_lock_is_named_by_its_exchange(self):
        # tbb::spin_mutex never sleeps: no futex wait names it. Its lock(), inlined into
        # count_word_shared, exchanges g_table's static address (xchg ...(%rip)): that
        # names the lock, its yields are charged to a row made for it, at the user's line.
        # Never a cas-retry-storm on its exchange.
        if not os.path.exists(os.path.join(WORKLOADS, "s01-tbb-spin-mutex")):
            self.skipTest("s01-tbb-spin-mutex not built (Debian's libtbb-dev missing)")
        doc = profile("s01-tbb-spin-mutex", "--variant=bad", "--seconds=1.5")
        kinds = [f["kind"] for f in doc["findings"]]
        self.assertNotIn("cas-retry-storm", kinds)
        lc = [f for f in doc["findings"] if f["kind"] == "lock-contention"]
        self.assertTrue(lc, kinds)
        l = lc[0]["evidence"]["lock"]
        self.assertIn(l["name"], ("g_table", "g_table.mu"))  # mu is at offset 0 of g_table
        self.assertEqual(l["waits"], 0)  # it never slept: all its wait is yields
        self.assertGreater(l["yields"], 0)
        self.assertGreaterEqual(len(l["waiters"]), 2)
        # No owner field and no wake: its holders are the threads the memory sampler found
        # inside its critical section (the digest loop between the exchange and the
        # `movb $0` release), never the acquisition loop where the waiters spin. Every
        # worker both holds and waits; the main thread never takes it.
        self.assertEqual(l["owner_source"], "sampled in section")
        holders = {o["tid"] for o in l["owners"]}
        self.assertGreaterEqual(len(holders), 2, l["owners"])
        self.assertLessEqual(holders, {w["tid"] for w in l["waiters"]}, (l["owners"], l["waiters"]))
        self.assertNotIn(doc["target"]["pid"], holders)
        self.assertIn("sampled inside its critical section", lc[0]["explanation"])
        self.assertIsNotNone(lc[0]["predicted_gain"]["high"], lc[0]["predicted_gain"])
        loc = lc[0]["locations"][0]
        self.assertEqual(os.path.basename(loc["file"]), "s01_tbb_spin_mutex.cc")
        self.assertEqual(loc["function"], "count_word_shared")
        with open(loc["file"]) as f:
            self.assertIn("PROBLEM", f.read().splitlines()[loc["line"] - 1], loc)

    def test_tbb_spin_mutex_sharded_yields_are_not_charged(self):
        # The sharded twin's exchange goes through a register (g_shards[hash % 64]): it
        # names no lock, so its yields (as long as bad's on a busy VM) go to none.
        if not os.path.exists(os.path.join(WORKLOADS, "s01-tbb-spin-mutex")):
            self.skipTest("s01-tbb-spin-mutex not built (Debian's libtbb-dev missing)")
        doc = profile("s01-tbb-spin-mutex", "--variant=fixed", "--seconds=1.5")
        self.assertNotIn("lock-contention", [f["kind"] for f in doc["findings"]])
        self.assertFalse([l for l in doc["locks"] if l["yields"] and l["waits"] == 0], doc["locks"][:3])

    def rust(self, workload, fn):
        """The most-waited lock of a Rust workload's bad variant. The finding's kind is the
        matrix's (s01-rust-std-mutex, s01-rust-parking-lot)."""
        if not os.path.exists(os.path.join(WORKLOADS, workload)):
            self.skipTest(f"{workload} not built (Debian's rustc/cargo missing)")
        doc = self.last_doc = profile(workload, "--variant=bad", "--seconds=1.5")
        self.assertNotIn("cas-retry-storm", [f["kind"] for f in doc["findings"]])
        l = doc["locks"][0]
        self.assertTrue(l["sites"], {k: l[k] for k in ("address", "name", "waits", "stacks", "region") if k in l})
        site = l["sites"][0]
        self.assertTrue(site["file"].endswith(".rs") and "tests/workloads/rust/" in site["file"], site)
        # v0-mangled workload symbols, demangled; the line is the lock() call, not std's
        self.assertEqual(site["function"], fn)
        with open(site["file"]) as f:
            self.assertIn("PROBLEM", f.read().splitlines()[site["line"] - 1], site)
        self.assertEqual(l["type"], "mutex")
        self.assertEqual(l["owner_source"], "waker")
        self.assertGreaterEqual(len(l["owners"]), 2, l["owners"])
        return l

    def test_rust_std_mutex(self):
        l = self.rust("s01-rust-std-mutex", "s01_rust_std_mutex::count_word_shared")
        self.assertEqual(l["waits_on_other_words"], 0)  # std's futex is the lock word itself
        # a heap lock (the Arc's Mutex), named by the type of `table`, whose register holds
        # the slow path's argument, not "the heap lock at 0x..."
        self.assertEqual(l["name"], "Mutex<HashMap<String, u64, RandomState>> (via table)")

    def test_rust_parking_lot(self):
        l = self.rust("s01-rust-parking-lot", "s01_rust_parking_lot::count_word_shared")
        # parking_lot parks on per-thread words: charged to the RawMutex by its lock_slow
        self.assertGreater(l["waits_on_other_words"], 0)
        # ...and yields in lock_slow before it parks: charged to it too
        self.assertGreater(l["yields"], 0, l)
        self.assertEqual(l["name"], "Mutex<RawMutex, Table> (via table)")
        # ...from the first wait: `ccprof run` probes the executable's slow paths before
        # it execs (waits before the probe would be rows of their per-thread words, as
        # four rows of ~150 waits each were when it was probed at the first /proc scan)
        rows = [r for r in self.last_doc["locks"] if r["sites"] and r["sites"][0]["function"] == l["sites"][0]["function"]]
        self.assertEqual(len(rows), 1, [(r["name"], r["address"], r["waits"]) for r in rows])

    def rust_rwlock_fixed(self, workload, fn):
        """Scenario 2's fixed twin with a Rust RwLock: readers take it shared, so whatever
        they wait (for the reload's writer, long on a busy VM) is no read-mostly-lock."""
        if not os.path.exists(os.path.join(WORKLOADS, workload)):
            self.skipTest(f"{workload} not built (Debian's rustc/cargo missing)")
        doc = profile(workload, "--variant=fixed", "--seconds=1.5")
        self.assertNotIn("read-mostly-lock", [f["kind"] for f in doc["findings"]])
        readers = [l for l in doc["locks"] if l["sites"] and l["sites"][0]["function"] == fn]
        for l in readers:  # the RwLock's rows, when its readers waited at all
            self.assertEqual(l["type"], "rwlock", l)
            self.assertTrue(l["name"].endswith("::CONFIG_RWLOCK"),
                            {k: l[k] for k in ("address", "name", "waits", "waits_on_other_words", "region",
                                               "sites") if k in l})

    def test_rust_std_rwlock_readers_share(self):
        self.rust_rwlock_fixed("s02-rust-std-rwlock", "s02_rust_std_rwlock::read_config_shared")

    def test_rust_parking_lot_rwlock_readers_share(self):
        self.rust_rwlock_fixed("s02-rust-parking-lot-rwlock", "s02_rust_parking_lot_rwlock::read_config_shared")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("lock_libraries_test: skipped: needs root to load BPF programs")
        sys.exit(77)
    unittest.main()
