#!/bin/bash
# The parsers' unit tests (t_parsers, CUnit, no MPI): one ok line per test.
. "$(dirname "$0")/common.sh"
"$top_builddir/mpi-tests/t_parsers" >"$T/out" 2>&1
while IFS= read -r line; do
    case $line in
    *"Test: "*"...passed")
        PASS=$((PASS + 1))
        line=${line#*Test: }
        echo "ok - ${line% ...passed}"
        ;;
    *"Test: "*"...FAILED")
        FAIL=$((FAIL + 1))
        line=${line#*Test: }
        echo "not ok - ${line% ...FAILED}"
        ;;
    "    "[0-9]*". "*) echo "    ${line#"${line%%[0-9]*}"}" ;;
    esac
done <"$T/out"
# A crash would stop the list short of CUnit's summary.
check "t_parsers ran to its end" grep -q '^parsers all: ' "$T/out" ||
    tail -20 "$T/out"
check "t_parsers leaked nothing of ours" eval '! ours_leaked'
finish
