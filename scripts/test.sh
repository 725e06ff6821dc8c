#!/usr/bin/env bash
# Quick start, command 2: build everything and run the whole test suite: unit tests
# (no root), end-to-end tests (root: real BPF), browser tests, and last the scenario
# matrix, whose lines and closing `N passed, N failed` are printed in full.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
(cd build && ctest --output-on-failure -E scenario_matrix)
# Fuzzing, bounded: the libFuzzer harnesses of tests/fuzz (ASan + UBSan, clang) in a
# build folder of their own, CCPROF_FUZZ_SECONDS each from the seed corpora; any crash fails.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DCCPROF_FUZZ=ON -DCCPROF_WORKLOADS=OFF -DCCPROF_FUZZ_SECONDS=30 >/dev/null
cmake --build build-fuzz --target recording_fuzzer decoder_fuzzer pmu_fuzzer elf_fuzzer
(cd build-fuzz && ctest -L fuzz --output-on-failure)
if [ "$(id -u)" -ne 0 ]; then
  echo "matrix: skipped: needs root to load BPF programs"
  exit 0
fi
status=0
python3 tests/e2e/matrix.py build || status=$?
# The same checks on -O0, -O3 and stripped builds of the memory scenarios plus 1 and 13.
python3 tests/e2e/matrix.py build --variants all || status=$?
exit $status
