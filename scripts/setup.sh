#!/usr/bin/env bash
# Installs every Debian package that building, testing and demoing ccprof needs.
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config git
  clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev zstd
  libdw-dev libdebuginfod-dev debuginfod libpfm4-dev libzydis-dev libzycore-dev libiberty-dev
  libabsl-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 linux-perf chromium procps
  libprotobuf-dev protobuf-compiler golang-go prometheus
  rustc cargo librust-parking-lot-dev libtbb-dev
  uwsgi-core wrk libarchive-tools
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
