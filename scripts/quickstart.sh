#!/usr/bin/env bash
# Quick start, command 1: build everything and profile a bundled workload
# (scenario 1, lock contention), writing the outputs to ccprof-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
echo
echo "== profiling build/workloads/s01-lock-contention (threads counting words under one mutex)"
./build/ccprof run -o ccprof-out -- ./build/workloads/s01-lock-contention --seconds=2
echo
echo "open ccprof-out/report.html in a browser; ccprof-out/findings.json is the machine-readable form"
