#!/bin/sh
# split_debug.sh BINARY STRIPPED_COPY DEBUG_ROOT
# Writes a stripped copy of BINARY (no .symtab, no DWARF: what a distro package ships)
# and its debug info as DEBUG_ROOT/.build-id/xx/yyyy.debug, where debuggers and
# ccprof (CCPROF_DEBUGINFO_PATH=DEBUG_ROOT) look it up by the binary's build ID.
# With DEBUG_ROOT "-" only the stripped copy is written.
set -eu
mkdir -p "$(dirname "$2")"
objcopy --strip-all "$1" "$2"
[ "$3" = "-" ] && exit 0
id=$(readelf -n "$1" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
if [ -z "$id" ]; then
  echo "split_debug.sh: $1 has no build ID (link with -Wl,--build-id)" >&2
  exit 1
fi
dir="$3/.build-id/$(echo "$id" | cut -c1-2)"
mkdir -p "$dir"
objcopy --only-keep-debug "$1" "$dir/$(echo "$id" | cut -c3-).debug"
