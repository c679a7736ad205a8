#!/bin/bash
# Round trips on many shapes of job, and 1 GiB per rank once.
. "$(dirname "$0")/common.sh"
# ranks_per_node 0: nodes detected by shared memory (one node here).
for shape in "1 1" "2 1" "4 2" "7 2" "16 4" "5 3" "3 0"; do
    set -- $shape
    ok "round trip, $1 ranks, ranks_per_node $2" \
        run "$1" "$top_builddir/mpi-tests/t_roundtrip" "$2"
done
# CKPT_TEST_BIG_BYTES lets the sanitizer build use less (its shadow memory
# and slow instrumented loops make 1 GiB pointless there).
BIG=${CKPT_TEST_BIG_BYTES:-$((1 << 30))}
ok "round trip, 2 ranks on 2 nodes, $BIG bytes per rank" \
    run 2 "$top_builddir/mpi-tests/t_roundtrip" 1 "$BIG"
finish
