"""What the e2e test scripts share: the build they test and how they run as root."""
import gzip
import os
import socket
import subprocess
import sys
import unittest


def decompressed(data):
    """A file's bytes as a reader sees them: gzip (pprof) and ccprof recordings of format
    4 and later (a 24-byte header, then a zstd frame: the zstd tool decompresses it)."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:8] == b"CCPROFR1" and int.from_bytes(data[8:12], "little") >= 4:
        p = subprocess.run(["zstd", "-d", "-c", "-q"], input=data[24:], stdout=subprocess.PIPE, check=True)
        return data[:24] + p.stdout
    return data


def build_dir():
    """The build folder named by the first argument (CTest passes it), else ./build."""
    return os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build"


def build_id(path):
    """The GNU build ID of an ELF file, as `readelf -n` prints it."""
    out = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE, text=True, check=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    raise AssertionError(f"{path} has no build ID")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expect_refusal(test, argv, message, code=1, **kwargs):
    """Runs a command that must fail with exit `code` and say `message` on stderr."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30, **kwargs)
    test.assertEqual(p.returncode, code, p.stderr)
    test.assertIn(message, p.stderr)
    return p


def main_as_root(name):
    """unittest.main, or CTest's skip code 77 where BPF cannot be loaded (not root)."""
    if os.geteuid() != 0:
        print(f"{name}: skipped: needs root to load BPF programs (run the tests as root)")
        sys.exit(77)
    unittest.main(verbosity=2)
