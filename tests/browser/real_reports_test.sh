#!/usr/bin/env bash
# Browser checks on reports made by ccprof itself from the scenario workloads (s03 false
# sharing, s13 lock held across I/O), not on fixtures. Needs root (ccprof loads BPF) and
# Chromium; exits 77 (skipped) without them.
# usage: real_reports_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root to run ccprof"; exit 77; fi
out="$build/tests/browser/output/real"
mkdir -p "$out"
"$build/ccprof" run -o "$out/s03" -- "$build/workloads/s03-false-sharing" --seconds=2 >/dev/null
"$build/ccprof" run -o "$out/s13" -- "$build/workloads/s13-lock-held-across-io" --seconds=2 >/dev/null
exec python3 "$here/run_browser_test.py" --report-fill "$build/tests/browser/report_fill" --out "$out" \
  --findings "false-sharing=$out/s03/findings.json" --findings "lock-held-across-io=$out/s13/findings.json" \
  false-sharing lock-held-across-io
