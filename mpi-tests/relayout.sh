#!/bin/bash
# Restart anywhere (same rank count): each emulated node has a root of its
# own (cache_dir = .../r%n, its "local disk"), and the roots are rotated,
# lost and reordered, or regrouped under another ranks_per_node. The
# restart adopts the newest whole step into its layout: every rank's data
# exactly as saved, from the caches alone (no storage is configured), the
# step at PARTNER again, the old directories gone. A kill while adopting
# leaves a cache the next start adopts.
. "$(dirname "$0")/common.sh"
P="$top_builddir/mpi-tests/t_pattern"
BYTES=300000
ROOTS="$T/roots"

layout() { # layout NAME RANKS_PER_NODE: a config with a root per node
    CACHE="$ROOTS/r%n" VERBOSE=2 conf "$1" "ranks_per_node = $2"
}

fresh() { # fresh NP RPN: roots holding steps 1 and 2 of job "j"
    rm -rf "$ROOTS"
    CONF=$(layout j "$2")
    ok "saved on $1 ranks, $2 per node" run "$1" "$P" "$CONF" save 1 2 "$BYTES"
}

homes_only() { # every root holds exactly node-<its number> with step 2,
    # whose files are those its MANIFEST lists (not after a restore that
    # removed a damaged own file: $1 = damaged)
    local r n bad=0 listed there
    for r in "$ROOTS"/r*; do
        n=${r##*/r}
        [ -d "$r/j" ] || continue
        [ "$(ls "$r/j")" = "node-$n" ] || { echo "    $r/j: $(ls "$r/j")"; bad=1; }
        [ "$(ls "$r/j/node-$n")" = "step-2" ] || { echo "    $r: $(ls "$r/j/node-$n")"; bad=1; }
        listed=$(awk '$1 == "file" { print $2 }' "$r/j/node-$n/step-2/MANIFEST" | sort)
        there=$(cd "$r/j/node-$n/step-2" && ls rank-* | sort)
        [ "${1:-}" = damaged ] || [ "$listed" = "$there" ] || { echo "    $r: listed $listed, there $there"; bad=1; }
    done
    return $bad
}

restored() { # restored DESC NP RPN [damaged]: step 2 exactly, at PARTNER, adopted
    local conf
    conf=$(layout j "$3")
    wait_gone "t_pattern"
    ok "$1: restored exactly" run "$2" "$P" "$conf" check "$BYTES" 2
    cp "$T/last.log" "$T/adopt.log"
    check "$1: at PARTNER in the new layout" grep -q "restored 2 (level 2)" "$T/last.log"
    check "$1: adopted" grep -q "step 2 adopted from caches of another layout" "$T/last.log"
    check "$1: only this layout's directories are left" homes_only "${4:-}"
    ok "$1: a second restart finds it in place" run "$2" "$P" "$conf" check "$BYTES" 2
    check "$1: nothing adopted the second time" \
        bash -c "! grep -q adopted '$T/last.log' && grep -q 'restored 2 (level 2)' '$T/last.log'"
}

rotate() { # the roots r0..r(N-1) move one place down: each now holds another node's files
    local n=$1 i
    mv "$ROOTS/r0" "$ROOTS/tmp"
    for ((i = 1; i < n; i++)); do mv "$ROOTS/r$i" "$ROOTS/r$((i - 1))"; done
    mv "$ROOTS/tmp" "$ROOTS/r$((n - 1))"
}

# Hosts rotated: node n's root holds node n+1's files (its own ranks'
# copies among them), so half the files are linked and half sent.
fresh 8 2
rotate 4
restored "hosts rotated" 8 2
check "hosts rotated: half linked, half sent" \
    grep -q "8 files linked in place, 8 sent between nodes" "$T/adopt.log"

# One host lost, the rest reordered: node 1's root is gone (a spare with an
# empty disk takes its place), and nodes 0, 2, 3 shuffle.
fresh 8 2
rm -rf "$ROOTS/r1"
mv "$ROOTS/r0" "$ROOTS/x" && mv "$ROOTS/r3" "$ROOTS/r0" && mv "$ROOTS/r2" "$ROOTS/r3" &&
    mv "$ROOTS/x" "$ROOTS/r1"
restored "one host lost, the rest reordered" 8 2

# The same ranks regrouped: 2 nodes of 4 ranks become 4 nodes of 2 (the two
# new nodes start empty). Back to 2 nodes, the roots of nodes 2 and 3 are
# out of reach: ranks 4 and 5 have no copy left, nothing is adopted and
# nothing removed.
fresh 8 4
restored "4 ranks per node, then 2" 8 2
run 8 "$P" "$(layout j 4)" check "$BYTES" >"$T/last.log" 2>&1
check "2 ranks per node, then 4 (half the roots gone): not restored" \
    grep -q "no step whole: none adopted" "$T/last.log"
check "2 ranks per node, then 4: the files left are kept" \
    [ -f "$ROOTS/r1/j/node-1/step-2/MANIFEST" ]

damage() { # damage FILE: a byte near its end (in a dataset), size unchanged
    local size
    size=$(stat -c %s "$1")
    printf '\xa5' | dd of="$1" bs=1 seek=$((size - 64)) conv=notrunc status=none
}

# A damaged source: the copy sent from it fails its digest on arrival, and
# the next try sends the other copy (rank 0's copy goes from node 0, which
# also links the same damaged file as rank 0's own: the restore then takes
# the good copy from the partner).
fresh 8 2
rotate 4
damage "$ROOTS/r0/j/node-1/step-2/rank-0.h5"
restored "rotated, one source damaged" 8 2 damaged
check "rotated, one source damaged: another copy was sent" \
    grep -q "did not arrive: trying other copies" "$T/adopt.log"

# A listed file missing, and a MANIFEST that cannot be read: the other
# copies serve; the directory with the unreadable MANIFEST is kept.
fresh 8 2
rotate 4
rm "$ROOTS/r1/j/node-2/step-2/rank-5.h5"
printf 'x' >>"$ROOTS/r2/j/node-3/step-1/MANIFEST"
CONF=$(layout j 2)
ok "rotated, a file missing and a MANIFEST damaged: restored exactly" \
    run 8 "$P" "$CONF" check "$BYTES" 2
check "rotated, a file missing and a MANIFEST damaged: at PARTNER" \
    grep -q "restored 2 (level 2)" "$T/last.log"
check "the directory with the damaged MANIFEST is kept" [ -d "$ROOTS/r2/j/node-3" ]

# One root left holds every file (2 ranks per node -> 1): one rank sends
# two files to another (an own file and a copy), in two rounds.
rm -rf "$ROOTS"
ok "saved on 4 ranks, 2 per node" run 4 "$P" "$(layout j 2)" save 1 2 "$BYTES"
rm -rf "$ROOTS/r1"
restored "one root left, 2 ranks per node -> 1" 4 1

# A root shared by all nodes (".." makes every node's root one directory,
# as a shared file system would): nothing is adopted or discarded, and
# every node keeps using its node-<n> there.
rm -rf "$ROOTS"
CONF=$(CACHE="$T/c%n/../shared" VERBOSE=2 conf j "ranks_per_node = 2")
ok "shared root: saved" run 8 "$P" "$CONF" save 1 2 "$BYTES"
ok "shared root: restored exactly" run 8 "$P" "$CONF" check "$BYTES" 2
check "shared root: at PARTNER" grep -q "restored 2 (level 2)" "$T/last.log"
check "shared root: seen, nothing adopted" \
    bash -c "grep -q 'shared between nodes' '$T/last.log' && ! grep -q adopted '$T/last.log'"
check "shared root: every node's directory is there" \
    bash -c "[ \"\$(ls '$T/shared/j')\" = \"\$(printf 'node-%s\n' 0 1 2 3)\" ]"

# A rank killed while adopting (files placed, or MANIFESTs written): the
# next start adopts what is left, exactly.
for point in adopt-placed adopt-committed; do
    fresh 8 2
    rotate 4
    CONF=$(layout j 2)
    CKPT_TEST_KILLPOINT="$point:3" run 8 -x CKPT_TEST_KILLPOINT "$P" "$CONF" check "$BYTES" 2 \
        >"$T/killed.log" 2>&1
    check "killed at $point: the job died" [ $? -ne 0 ]
    wait_gone "t_pattern"
    ok "killed at $point: restarted, restored exactly" run 8 "$P" "$CONF" check "$BYTES" 2
    check "killed at $point: at PARTNER" grep -q "restored 2 (level 2)" "$T/last.log"
    check "killed at $point: only this layout's directories are left" homes_only
done

# The same roots with another rank count: not this layout's data (private
# regions cannot be split), left alone, and the restore finds nothing.
fresh 8 2
CONF=$(layout j 2)
run 6 "$P" "$CONF" check "$BYTES" >"$T/last.log" 2>&1
check "6 ranks on 8 ranks' caches: no step restored" grep -q "FAILED: restore" "$T/last.log"
check "6 ranks on 8 ranks' caches: the old files are kept" [ -f "$ROOTS/r3/j/node-3/step-2/MANIFEST" ]
finish
