#!/bin/bash
# Global and replicated regions (ckpt_protect_global, ckpt_protect_replicated):
# shapes checked at save, a replicated region stored once, and restores on
# another number of ranks from the node caches (each emulated node a root of
# its own, cache_dir = .../r%n): 8 -> 4 -> 12 -> 6 ranks, each exact, at
# PARTNER (the old files are on two nodes each), and each job saving the
# next step in its own layout; private regions refused there; a damaged
# copy replaced by the other; a kill during the first save of the new
# layout loses nothing.
. "$(dirname "$0")/common.sh"
S="$top_builddir/mpi-tests/t_shapes"
ROOTS="$T/roots"
GC=100003 # elements of the global array "g" (uint64)
WC=50001  # of the replicated array "w" (double)

layout() { # layout RANKS_PER_NODE: a config with a root per node
    CACHE="$ROOTS/r%n" VERBOSE=2 conf j "ranks_per_node = $1"
}

restored_on() { # restored_on DESC NP RPN [STEP [NEXT]]: STEP (2) exactly, at
    # PARTNER; then NEXT saved by this layout, if given
    local step=${4:-2}
    wait_gone t_shapes
    if [ -n "${5:-}" ]; then
        ok "$1: restored exactly, step $5 saved" run "$2" "$S" "$(layout "$3")" \
            check-save $GC $WC "$step" "$5"
    else
        ok "$1: restored exactly" run "$2" "$S" "$(layout "$3")" check $GC $WC "$step"
    fi
    check "$1: at level ${LEVEL:-2}" grep -q "restored $step (level ${LEVEL:-2})" "$T/last.log"
}

own_bytes() { # the sizes of the own files the MANIFESTs list, summed
    cat "$ROOTS"/r*/j*/node-*/step-2/MANIFEST 2>/dev/null |
        awk '$1 == "file" && $5 == "own" { s += $3 } END { print s + 0 }'
}

# Save errors: a gap, an overlap, replicas that differ, other names.
declare -A why
why=([gap]="are in no rank's slice" [overlap]="are in two ranks' slices"
     [differ]="differs between ranks" [names]="protect different global or replicated")
for c in gap overlap differ names; do
    rm -rf "$ROOTS"
    ok "save refused: $c" run 4 "$S" "$(layout 2)" expect-save 1000 100 $c
    check "save refused: $c, and says why" grep -q "save refused: .*${why[$c]}" "$T/last.log"
done

# The same size: exact, at PARTNER; the replicated array stored once.
rm -rf "$ROOTS"
ok "saved on 8 ranks" run 8 "$S" "$(layout 2)" save 1 2 $GC $WC
restored_on "8 ranks again" 8 2
bytes=$(own_bytes)
check "replicated stored once: $bytes bytes of own files for $((8 * GC + 8 * WC)) of data (not $((8 * GC + 64 * WC)))" \
    [ "$bytes" -lt $((8 * GC + 16 * WC)) ]

# 8 -> 4 -> 12 -> 6 ranks, all from the caches (no storage is configured).
restored_on "8 -> 4 ranks" 4 1 2 3
check "8 -> 4: from the slices of 8 ranks" grep -q "restored from the slices of 8 ranks" "$T/last.log"
check "8 -> 4: the old files are discarded after the save" \
    bash -c "! grep -rqs 'ranks 8' '$ROOTS'/r*/j/node-*/step-*/MANIFEST"
restored_on "4 -> 12 ranks" 12 3 3 4
# node 3's root is out of reach: its files have their copies only (LOCAL)
LEVEL=1 restored_on "12 -> 6 ranks" 6 2 4 5
restored_on "6 ranks again" 6 2 5
check "6 again: no reshaping" bash -c "! grep -q 'slices of' '$T/last.log'"

# A private region cannot be restored on another number of ranks.
run 5 "$S" "$(layout 1)" expect-restore $GC $WC 5 private >"$T/last.log" 2>&1
check "private region on 5 ranks: CKPT_EMISMATCH" grep -q "is private to a rank" "$T/last.log"
restored_on "the files are still there: 6 -> 4" 4 1 5

# A damaged copy: the other one serves; both damaged: nothing restored.
damage() { # damage FILE: a byte near the end (in the datasets' bytes)
    local size
    size=$(stat -c %s "$1")
    printf '\xa5' | dd of="$1" bs=1 seek=$((size - 64)) conv=notrunc status=none
}
rm -rf "$ROOTS"
ok "saved on 8 ranks" run 8 "$S" "$(layout 2)" save 1 2 $GC $WC
damage "$ROOTS/r1/j/node-1/step-2/rank-2.h5"
damage "$ROOTS/r0/j/node-0/step-2/rank-7.h5"
LEVEL=1 restored_on "8 -> 4, two files damaged (their copies serve)" 4 1
rm -rf "$ROOTS"
ok "saved on 8 ranks" run 8 "$S" "$(layout 2)" save 1 2 $GC $WC
damage "$ROOTS/r1/j/node-1/step-2/rank-3.h5"
damage "$ROOTS/r2/j/node-2/step-2/rank-3.h5"
run 4 "$S" "$(layout 1)" expect-restore $GC $WC 4 >"$T/last.log" 2>&1
check "8 -> 4, both copies of rank 3 damaged: CKPT_ENOENT" grep -q "t_shapes: 5 passed, 0 failed" "$T/last.log"

# Every cache lost, 8 -> 6 ranks from storage (file://): each old rank file
# fetched whole by one rank, checked, indexed, its slices sent on; the
# fetched files removed afterwards. A damaged object: that step is not
# recoverable, the older one is.
rm -rf "$ROOTS" "$T/store" && mkdir -m 700 "$T/store"
STORE="storage_url = file://$T/store"
ok "saved on 8 ranks, uploaded" run 8 "$S" "$(CACHE="$ROOTS/r%n" VERBOSE=2 conf j "ranks_per_node = 2" "$STORE")" \
    save 1 2 $GC $WC
rm -rf "$ROOTS"
SCONF=$(CACHE="$ROOTS/r%n" VERBOSE=2 conf j "ranks_per_node = 2" "$STORE")
ok "every cache lost, 8 -> 6 ranks from storage: restored exactly" run 6 "$S" "$SCONF" check $GC $WC 2
check "from storage: at STORAGE" grep -q "restored 2 (level 3)" "$T/last.log"
check "from storage: the slices of 8 ranks" grep -q "slices of 8 ranks in storage" "$T/last.log"
check "from storage: the fetched files are gone" \
    bash -c "[ -z \"\$(find '$ROOTS' -name 'import-*')\" ]"
obj=$(find "$T/store" -path '*step-2*node-1*' -type f | head -1)
printf '\xa5' | dd of="$obj" bs=1 seek=100 conv=notrunc status=none
rm -rf "$ROOTS"
ok "a damaged object: the older step restores" run 6 "$S" "$SCONF" check $GC $WC 1
check "a damaged object: step 2 refused" grep -q "step 2 of 8 ranks in storage is not recoverable" "$T/last.log"

# Killed during the first save on 4 ranks: the next start restores the
# 8 ranks' step again.
for point in save-streamed save-published; do
    rm -rf "$ROOTS"
    ok "saved on 8 ranks" run 8 "$S" "$(layout 2)" save 1 2 $GC $WC
    CKPT_TEST_KILLPOINT="$point:1" run 4 -x CKPT_TEST_KILLPOINT "$S" "$(layout 1)" \
        check-save $GC $WC 2 3 >"$T/killed.log" 2>&1
    check "8 -> 4 killed at $point: the job died" [ $? -ne 0 ]
    restored_on "8 -> 4 killed at $point, restarted" 4 1
done
finish
