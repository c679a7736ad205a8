#!/bin/bash
# Scale runs on one machine: for each node count, one rank per emulated node,
# small checkpoints, against Azurite: ckpt-bench --scale saves several steps
# in direct, cache and writeback modes, loses 10% of the nodes (every 10th,
# never two partners), restores, checks every byte, prints its table and
# writes OUTDIR/scale-N.csv and .json.
# usage: tools/scale-run.sh [-o OUTDIR] [-b BYTES] [-s STEPS] [-k PERSIST_EVERY]
#        [NODES...]  (default: 128 200 nodes, 1 MiB per rank, 4 steps, every
#        2nd step to storage, OUTDIR docs/data)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/docs/data" bytes=$((1 << 20)) steps=4 every=2
while getopts o:b:s:k: opt; do
    case $opt in
    o) out=$OPTARG ;; b) bytes=$OPTARG ;; s) steps=$OPTARG ;; k) every=$OPTARG ;;
    *) echo "usage: $0 [-o OUTDIR] [-b BYTES] [-s STEPS] [-k K] [NODES...]"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
nodes=("$@")
[ ${#nodes[@]} -gt 0 ] || nodes=(128 200)
export top_builddir="${BUILD:-${top_builddir:-$root/build}}" top_srcdir="$root"
export CKPT_AZURITE_HOME="${CKPT_AZURITE_HOME:-$root/.azurite}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -x "$top_builddir/ckpt-bench" ] || "$root/scripts/build.sh" build || exit 1
[ -x "$top_builddir/mpi-tests/st_tool" ] ||
    make -s -C "$top_builddir" mpi-tests/st_tool >/dev/null || exit 1
T="${TMPDIR:-/tmp}/ckpt-scale"
rm -rf "$T" && mkdir -p "$T" "$out"
. "$root/mpi-tests/azurite.sh"
start_azurite || exit 1
status=0
for n in "${nodes[@]}"; do
    "$top_builddir/mpi-tests/st_tool" "$AZ_URL/scale-$n" create || exit 1
    lost=$(seq -s, 1 10 $((n - 1)))     # 1, 11, 21, ...: 10%, no two adjacent
    echo "== $n nodes, lose nodes $lost"
    start=$(date +%s)
    # many ranks on 2 cores: let a waiting rank yield its core
    mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np "$n" \
        "$top_builddir/ckpt-bench" --scale --storage "$AZ_URL/scale-$n" \
        -b "$bytes" --steps "$steps" --persist-every "$every" \
        --lose-nodes "$lost" -d "$T/bench-$n" \
        --out "$out/scale-$n" 2>"$T/scale-$n.err" || status=1
    echo "   $(( $(date +%s) - start )) s"
    grep -v '^ckpt\[' "$T/scale-$n.err" | head -5
done
exit $status
