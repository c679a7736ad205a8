#!/bin/bash
# A rank killed at any moment of a save: the restart restores a step whose
# data is exactly what was saved under that number, and nothing of the
# interrupted save is left behind.
. "$(dirname "$0")/common.sh"
P="$top_builddir/mpi-tests/t_pattern"
BYTES=3000000

leftovers() { # no temporary files, no step directory without MANIFEST
    local found
    found=$( {
        find "$T/cache" -name '*.tmp' -o -name 'discard-*'
        for d in "$T"/cache/*/node-*/step-*; do
            [ -d "$d" ] && [ ! -f "$d/MANIFEST" ] && echo "$d (no MANIFEST)"
        done
    } )
    [ -z "$found" ] && return 0
    echo "$found" | sed 's/^/    left: /'
    return 1
}

# mpirun may return while a killed rank still finishes a system call (a
# rename, an fsync); a real restart comes after the old processes are gone,
# so wait for that, as a scheduler would (10 s at most).
restart_and_check() { # $1: description, $2: bytes per rank
    local out
    wait_gone "t_pattern $CONF save"
    out=$(run "${NP:-4}" "$P" "$CONF" check "${2:-$BYTES}" 2>&1)
    if [ $? -eq 0 ]; then
        PASS=$((PASS + 1))
        echo "ok - $1: $(echo "$out" | grep restored)"
    else
        FAIL=$((FAIL + 1))
        echo "not ok - $1"
        echo "$out" | tail -20 | sed 's/^/    /'
    fi
    check "$1: no leftovers after restart" leftovers
}

# kill_each POINTS LABEL CONF_LINES...: for each kill point and victim (rank 0
# and 3), steps 1-2 saved, the save of 3 killed there, the restart checked.
kill_each() {
    local points=$1 label=$2
    shift 2
    for point in $points; do
        for victim in 0 3; do
            rm -rf "$T/cache"
            CONF=$(conf killed "$@")
            ok "${label}steps 1-2 saved" run 4 "$P" "$CONF" save 1 2 $BYTES
            CKPT_TEST_KILLPOINT="$point:$victim" run 4 -x CKPT_TEST_KILLPOINT \
                "$P" "$CONF" save 3 3 $BYTES >"$T/kill.log" 2>&1
            check "${label}rank $victim killed at $point: job failed" [ $? -ne 0 ]
            restart_and_check "${label}killed at $point (rank $victim)"
        done
    done
}

kill_each "save-prepared save-streamed save-published save-committed" "" \
    "ranks_per_node = 2" "keep_local = 3"
# The same with redundancy = rs: 4 nodes of one rank, one group of 2 + 2,
# killed before, while and after the parity is made.
kill_each "save-streamed save-parity save-published save-committed" "rs: " \
    "ranks_per_node = 1" "keep_local = 3" "redundancy = rs" "rs_data = 2"

# Kills at random moments while steps are saved back to back.
for i in 1 2 3 4 5; do
    rm -rf "$T/cache"
    CONF=$(conf killed "ranks_per_node = 2" "keep_local = 2")
    run 4 "$P" "$CONF" save 1 1000 $((8 * BYTES)) >"$T/kill.log" 2>&1 &
    job=$!
    # The kill comes at a random moment after step 1 is complete on both
    # nodes (on a loaded machine that can take longer than the delay).
    for _ in $(seq 600); do
        [ "$(ls "$T"/cache/killed/node-*/step-*/MANIFEST 2>/dev/null | wc -l)" -ge 2 ] && break
        sleep 0.1
    done
    sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
    victim=$(pgrep -f "t_pattern $CONF save" | shuf -n 1)
    [ -n "$victim" ] && kill -9 "$victim"
    wait $job
    check "random kill $i: job failed" [ $? -ne 0 ]
    restart_and_check "random kill $i" $((8 * BYTES))
done
finish
