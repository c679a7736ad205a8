#!/bin/bash
# The demo: an MPI trainer on 8 ranks emulating 4 nodes checkpoints every 10
# steps, is killed at step 37, loses a whole node's cache, restarts, resumes
# from the partners' copies, and ends bit-identical to a run that never
# stopped.
set -eu
. "$(dirname "$0")/demo-common.sh"
D="${TMPDIR:-/tmp}/ckpt-demo"
rm -rf "$D" && mkdir -p "$D"
conf() { printf 'cache_dir = %s/cache\njob = %s\nranks_per_node = 2\nverbose = %s\n' "$D" "$1" "$2" >"$D/$1.conf"; }
conf reference 0
conf demo 1
mpi() { mpirun --oversubscribe -np 8 "$B/examples/trainer" -n 60 -k 10 "$@"; }

echo "== 1. reference run, never interrupted"
mpi -c "$D/reference.conf" | tail -1 | tee "$D/ref.out"

echo "== 2. the same job, killed at step 37 (rank 5 dies)"
mpi -c "$D/demo.conf" --die-at 37 --die-rank 5 2>/dev/null | grep -E 'step|done' || true
echo "-- checkpoints in the cache before the restart:"
"$B/ckpt-ls" -c "$D/cache" -j demo

echo "== 3. node 2 is lost with its SSD: rm -rf $D/cache/demo/node-2"
rm -rf "$D/cache/demo/node-2"
"$B/ckpt-ls" -c "$D/cache" -j demo

echo "== 4. restart on a replacement node: restore only (-n 30)"
mpi -c "$D/demo.conf" -n 30 2>&1 | grep -E 'resumed|fetched' | head -8
echo "-- step 30 is back at two verified copies per rank (refilled from partners):"
"$B/ckpt-ls" -c "$D/cache" -j demo --verify

echo "== 5. training goes on to step 60"
mpi -c "$D/demo.conf" 2>&1 | tee "$D/run.out" | grep -E 'resumed|done'

ref=$(grep -o 'weights hash [0-9a-f]*' "$D/ref.out")
got=$(grep -o 'weights hash [0-9a-f]*' "$D/run.out")
echo
echo "== report"
echo "   reference run:  $ref"
echo "   resumed run:    $got ($(grep -o 'resumed from step [0-9]*' "$D/run.out"))"
if [ "$ref" = "$got" ]; then
    echo "   bit-identical:  yes"
else
    echo "   bit-identical:  NO"
    exit 1
fi
