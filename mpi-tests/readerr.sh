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
# RS, 4 + 2 on 6 nodes, node 1 lost, and a read error on a parity share the
# rebuild reads, or on a survivor's own file (met as that rank copies it
# while node 1 is rebuilt, and as the rebuild reads it as a share): two bad
# shares at most, within the parity, so step 2 comes back exactly.
rs_unreadable() { # rs_unreadable LABEL PATH
    CONF=$(conf "eio-rs-$1" "ranks_per_node = 1" "redundancy = rs")
    ok "rs, $1: steps 1 and 2 saved" run 6 "$P" "$CONF" save 1 2 3000000
    rm -rf "$T/cache/eio-rs-$1/node-1"
    ok "rs, $1: node 1 lost, $2 unreadable: step 2" \
        eio "$2" run 6 "$P" "$CONF" check 3000000 2
    check "rs, $1: step 2 restored" grep -q "restored 2" "$T/last.log"
}
rs_unreadable share "node-2/step-2/parity-0.rs"
rs_unreadable own "node-0/step-2/rank-0.h5"
check "rs, own: the read error was met and reported" \
    grep -q "Input/output error" "$T/last.log"
finish
