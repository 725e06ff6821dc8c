#!/usr/bin/env bash
# Quick start, command 2: build everything and run the whole test suite: unit tests
# (no root), end-to-end tests (root: real BPF), browser tests, and last the scenario
# matrix, whose lines and closing `N passed, N failed` are printed in full.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
(cd build && ctest --output-on-failure -E scenario_matrix)
if [ "$(id -u)" -ne 0 ]; then
  echo "matrix: skipped: needs root to load BPF programs"
  exit 0
fi
status=0
python3 tests/e2e/matrix.py build || status=$?
# The same checks on -O0, -O3 and stripped builds of the memory scenarios plus 1 and 13.
python3 tests/e2e/matrix.py build --variants all || status=$?
exit $status
