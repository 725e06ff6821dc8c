#!/usr/bin/env python3
"""Scenario 9 — CPU-bound pure-Python work on threads, serialized by the GIL.

bad:   --threads threads (default 4) run the same CPU-bound function
       (threading.Thread); only the thread holding the GIL runs, the others
       wait for it on a futex inside the interpreter.
fixed: the same work on a ProcessPoolExecutor of --threads processes, each
       with its own interpreter and GIL.

Flags as the C++ workloads: --variant=bad|fixed --seconds=N --threads=N.
Prints "throughput=<number> units/s".
"""
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

CHUNK = 2000  # loop iterations per work unit


def crunch_unit(seed):
    """One unit of pure-Python CPU work (holds the GIL throughout)."""
    x = seed
    for i in range(CHUNK):
        x = (x * 1103515245 + 12345 + i) & 0x7FFFFFFF  # PROBLEM: pure-Python bytecode, runs only under the GIL
    return x


def crunch_until(deadline, seed):
    """Runs work units until `deadline` (time.monotonic); returns the count."""
    units = 0
    x = seed
    while time.monotonic() < deadline:
        x = crunch_unit(x)
        units += 1
    return units


def run_threads(threads, deadline):
    counts = [0] * threads

    def worker(index):
        counts[index] = crunch_until(deadline, index + 1)

    pool = [threading.Thread(target=worker, args=(i,), name=f"crunch-{i}") for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts)


def run_processes(threads, deadline):
    # FIX: one interpreter (and GIL) per process.
    with ProcessPoolExecutor(max_workers=threads) as executor:
        futures = [executor.submit(crunch_until, deadline, i + 1) for i in range(threads)]
        return sum(f.result() for f in futures)


def fail(message):
    print(f"{sys.argv[0]}: {message} (usage: --variant=bad|fixed --seconds=N --threads=N)",
          file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    variant, seconds, threads = "bad", 2.0, 4
    for arg in argv:
        name, eq, value = arg.partition("=")
        if not eq:
            fail(f"unknown argument '{arg}'")
        if name == "--variant":
            if value not in ("bad", "fixed"):
                fail(f"--variant must be bad or fixed, not '{value}'")
            variant = value
        elif name == "--seconds":
            try:
                seconds = float(value)
            except ValueError:
                fail(f"--seconds must be a number in (0, 3600], not '{value}'")
            if not 0 < seconds <= 3600:
                fail(f"--seconds must be a number in (0, 3600], not '{value}'")
        elif name == "--threads":
            try:
                threads = int(value)
            except ValueError:
                fail(f"--threads must be an integer in [1, 256], not '{value}'")
            if not 1 <= threads <= 256:
                fail(f"--threads must be an integer in [1, 256], not '{value}'")
        else:
            fail(f"unknown argument '{arg}'")
    return variant, seconds, threads


def main():
    variant, seconds, threads = parse_args(sys.argv[1:])
    start = time.monotonic()
    deadline = start + seconds
    if variant == "bad":
        units = run_threads(threads, deadline)
    else:
        units = run_processes(threads, deadline)
    elapsed = time.monotonic() - start
    print(f"variant={variant} threads={threads} units={units}")
    print(f"throughput={units / elapsed:.1f} units/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
