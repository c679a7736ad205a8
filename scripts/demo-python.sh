#!/bin/bash
# The Python demo: examples/train.py, a small PyTorch model trained
# data-parallel on 4 ranks emulating 2 nodes (gloo), checkpointed through
# ckpt.torch every 4 steps, is killed after step 10, loses node 1's cache,
# restarts from step 8 and ends bit-identical to a run that never stopped.
set -eu
. "$(dirname "$0")/demo-common.sh"
export PYTHONPATH="$B/python/pkg"
D="${TMPDIR:-/tmp}/ckpt-demo-python"
rm -rf "$D" && mkdir -p "$D"
conf() { printf 'cache_dir = %s/cache\njob = %s\nranks_per_node = 2\nverbose = 1\n' "$D" "$1" >"$D/$1.conf"; }
conf reference
conf demo
train() { mpirun --oversubscribe -np 4 /usr/bin/python3 "$root/examples/train.py" \
              --steps 20 --every 4 "$@"; }

echo "== 1. reference run, never interrupted"
train --config "$D/reference.conf" --out "$D/ref.bin"
echo "== 2. the same job, every rank killed after step 10"
train --config "$D/demo.conf" --die-after 10 2>/dev/null | grep dying || true
"$B/ckpt-ls" -c "$D/cache" -j demo
echo "== 3. node 1 is lost with its SSD: rm -rf $D/cache/demo/node-1"
rm -rf "$D/cache/demo/node-1"
echo "== 4. restart: resumes from step 8 (node 1's ranks from their partners)"
train --config "$D/demo.conf" --out "$D/run.bin"
echo
if cmp -s "$D/ref.bin" "$D/run.bin"; then
    echo "== bit-identical to the reference run: yes"
else
    echo "== bit-identical to the reference run: NO"
    exit 1
fi
