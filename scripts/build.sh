#!/usr/bin/env bash
# Installs the dependencies (Debian packages) and builds ccprof, the workloads and
# the tests into build/. Leaves the tool at build/ccprof.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo "build: build/ccprof and build/workloads/ are ready"
