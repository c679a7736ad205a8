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
# A crash stops the list short of CUnit's summary; the sanitizers report
# to $T/lsan.* (common.sh).
ended=no
grep -q '^parsers all: ' "$T/out" && ended=yes
check "t_parsers ran to its end" [ $ended = yes ]
[ $ended = yes ] ||
    grep -h -m8 -E 'ERROR|READ|WRITE|^ *#[0-3] ' "$T/out" "$T"/lsan.* 2>/dev/null |
    cut -c1-160 | sed 's/^ */    /'
check "t_parsers leaked nothing of ours" eval '! ours_leaked'
finish
