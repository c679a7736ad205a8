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
# The leak filter must know a frame in any of our files, wherever it lives
# (a move of src/ into folders once hid them all from it).
files=$(cd "$top_srcdir" && find src tools examples mpi-tests fuzz -name '*.c')
missed=$(printf '%s\n' "$files" | sed 's|^|    #1 0x1 in f /build/root/|; s|$|:10|' |
         grep -vE "$OURS_FRAME_RE" || true)
check "the leak filter sees frames in every C file of ours" \
    [ -z "$missed" -a "$(printf '%s\n' "$files" | grep -c /)" -gt 50 ]
[ -z "$missed" ] || printf '%s\n' "$missed" | head -5
finish
