#!/usr/bin/env python3
"""Python threads hammering one byte of a shared bytearray, for
tests/e2e/python_memory_frames_test.py: the memory samples of its threads must name the
line marked HOT (found by the test from the marker, not a number).

Usage: python_shared_bytearray.py [SECONDS] [THREADS] (default 2 s, 2 threads).
"""
import sys
import threading
import time

shared = bytearray(64)


def hammer(deadline):
    while time.monotonic() < deadline:
        for _ in range(2000):
            shared[8] = (shared[8] + 1) & 0xFF  # HOT: every thread writes the same byte
    return shared[8]


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    deadline = time.monotonic() + seconds
    pool = [threading.Thread(target=hammer, args=(deadline,), name=f"hammer-{i}") for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(f"shared[8]={shared[8]}")


if __name__ == "__main__":
    main()
