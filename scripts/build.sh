#!/bin/bash
# Builds libckpt in DIR (default build/) with extra configure arguments.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$root"
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p "$dir"
cd "$dir"
[ -f Makefile ] || "$root/configure" -q "$@"
make -j"$(nproc)" >/dev/null
