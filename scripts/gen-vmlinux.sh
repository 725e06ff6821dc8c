#!/usr/bin/env bash
# Regenerates third_party/vmlinux/<arch>/vmlinux.h from this host's kernel BTF.
# The BPF programs use CO-RE, so one vendored header serves every kernel with BTF.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-x86}
btf=${BTF:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable: this kernel has no BTF" >&2; exit 1; }
mkdir -p "$here/third_party/vmlinux/$arch"
bpftool btf dump file "$btf" format c > "$here/third_party/vmlinux/$arch/vmlinux.h.tmp"
mv "$here/third_party/vmlinux/$arch/vmlinux.h.tmp" "$here/third_party/vmlinux/$arch/vmlinux.h"
echo "wrote third_party/vmlinux/$arch/vmlinux.h from $btf"
