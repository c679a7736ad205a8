#!/bin/bash
# Read errors (EIO) on rank files, from a preloaded failing-disk shim: the
# copy that cannot be read counts as a bad copy and the next one is used;
# with no good copy of the newest step, the previous step is restored.
. "$(dirname "$0")/common.sh"
P="$top_builddir/mpi-tests/t_pattern"
SHIM="$top_builddir/mpi-tests/.libs/libeio.so"
[ -f "$SHIM" ] || { echo "not ok - $SHIM was not built"; exit 1; }
# The sanitizers' runtime need not come first when the shim is preloaded.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:verify_asan_link_order=0"
eio() { # eio PATHS CMD...: CMD with reads of PATHS failing past 64 KiB
    with LD_PRELOAD="$SHIM" CKPT_TEST_EIO_PATHS="$1" CKPT_TEST_EIO_FROM=65536 "${@:2}"
}
# unreadable LABEL CONF-LINE STEP: steps 1 and 2 saved, then with rank 1's
# own copy of step 2 unreadable, step STEP is restored (sets CONF).
unreadable() {
    CONF=$(conf "eio-$1" "ranks_per_node = 2" "$2")
    ok "$1: steps 1 and 2 saved" run 4 "$P" "$CONF" save 1 2 3000000
    ok "$1: own copy unreadable: step $3" \
        eio "node-0/step-2/rank-1.h5" run 4 "$P" "$CONF" check 3000000 "$3"
    check "$1: the read error was met and reported" \
        grep -q "Input/output error" "$T/last.log"
}
for mode in inline first; do
    unreadable "$mode" "restore_check = $mode" 2 # from the partner copy
    ok "$mode: own and partner copies unreadable: step 1" \
        eio "node-0/step-2/rank-1.h5,node-1/step-2/rank-1.h5" \
        run 4 "$P" "$CONF" check 3000000 1
done
# No second copy: an unreadable own copy makes the step unavailable, like a
# damaged one, and the previous step is restored.
unreadable single "redundancy = single" 1
finish
