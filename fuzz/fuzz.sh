#!/bin/bash
# The parsers' fuzz harnesses (fuzz/fuzz_<parser>.c). In every build each
# harness replays its regression inputs and its corpus: a regression input
# is one that once crashed, hung or broke a promise, and must not again. In
# a build configured with --enable-fuzzing each harness then fuzzes for
# CKPT_FUZZ_SECONDS (20) seconds; a crash fails the check and leaves its
# input in fuzz/crashes/<parser>/ of the build tree (docs/TESTING.md).
. "$(dirname "$0")/../mpi-tests/common.sh"
SECONDS_EACH=${CKPT_FUZZ_SECONDS:-20}
# rankfile's inputs choose the content of well-formed HDF5 files written
# through the HDF5 API: libckpt hands HDF5's own byte parser only files
# whose digest it checked, as HDF5 does not survive every damaged file
# (fuzz/hdf5-known/ holds such files, for the record).
PARSERS=${CKPT_FUZZ_PARSERS:-config manifest smanifest part rankfile azlist http_headers}
LIMITS=(-timeout="${CKPT_FUZZ_TIMEOUT:-10}" -rss_limit_mb="${CKPT_FUZZ_RSS_MB:-2048}")
SRC="$top_srcdir/fuzz"
OUT="$top_builddir/fuzz"

options() { # options PARSER: its libFuzzer options beyond the limits
    case $1 in
    config) echo "-max_len=9000 -dict=$SRC/dict/config.dict" ;;
    manifest) echo "-max_len=8192 -dict=$SRC/dict/manifest.dict" ;;
    smanifest) echo "-max_len=8192 -dict=$SRC/dict/smanifest.dict" ;;
    part) echo "-max_len=4096 -dict=$SRC/dict/part.dict" ;;
    rankfile) echo "-max_len=4096" ;;
    azlist) echo "-max_len=16384 -dict=$SRC/dict/azlist.dict" ;;
    http_headers) echo "-max_len=256" ;;
    esac
}

sanitizers() { # sanitizers PARSER CMD...: with the harnesses' sanitizer options
    # (any build: they only matter where a sanitizer is linked)
    local p=$1
    shift
    local asan="${ASAN_OPTIONS:-detect_leaks=1}"
    ASAN_OPTIONS="$asan" LSAN_OPTIONS="suppressions=$SRC/lsan.supp" "$@"
}

run_inputs() { # run_inputs PARSER FILE...: each input once
    local p=$1
    shift
    # Without a file a libFuzzer binary would fuzz without end.
    [ $# -gt 0 ] || { echo "no input for $p"; return 1; }
    sanitizers "$p" "$OUT/fuzz_$p" "${LIMITS[@]}" "$@"
}

fuzz() { # fuzz PARSER: new inputs go to the build tree, never the sources
    local p=$1
    mkdir -p "$OUT/corpus-new/$p" "$OUT/crashes/$p"
    # shellcheck disable=SC2046
    sanitizers "$p" "$OUT/fuzz_$p" -max_total_time="$SECONDS_EACH" "${LIMITS[@]}" \
        $(options "$p") -artifact_prefix="$OUT/crashes/$p/" \
        -print_final_stats=1 "$OUT/corpus-new/$p" "$SRC/corpus/$p"
}

check_run() { # check_run DESCRIPTION CMD...: passes if CMD does
    # Leaks fail CMD itself (LSAN_OPTIONS above), so unlike common.sh's ok
    # this needs no leak files; on failure it shows the cause, not the
    # sanitizer's shadow map, and keeps the whole output.
    local what=$1 log
    shift
    log="$OUT/logs/$(echo "$what" | tr -cs 'A-Za-z0-9_.-' '_' | sed 's/_*$//').log"
    mkdir -p "$OUT/logs"
    if "$@" >"$log" 2>&1; then
        PASS=$((PASS + 1))
        echo "ok - $what"
        return 0
    fi
    FAIL=$((FAIL + 1))
    echo "not ok - $what"
    grep -m8 -E 'ERROR|WRITE|READ|broken promise|replay:|^ *#[0-4] ' "$log" |
        cut -c1-160 | sed 's/^ */    /'
    echo "    (all of it: $log)"
}

shopt -s nullglob
for p in $PARSERS; do
    for f in "$SRC/regressions/$p"/*; do
        check_run "$p: regression ${f##*/}" run_inputs "$p" "$f"
    done
    corpus=("$SRC/corpus/$p"/*)
    check_run "$p: ${#corpus[@]} corpus inputs replay cleanly" run_inputs "$p" "${corpus[@]}"
    [ "$FUZZING" = yes ] || continue
    before=$(ls "$OUT/crashes/$p" 2>/dev/null | wc -l)
    check_run "$p: ${SECONDS_EACH} s of fuzzing find nothing" fuzz "$p"
    after=$(ls "$OUT/crashes/$p" 2>/dev/null | wc -l)
    if [ "$after" -gt "$before" ]; then
        echo "    new input in $OUT/crashes/$p/: reproduce with"
        echo "    $OUT/fuzz_$p FILE; keep as fuzz/regressions/$p/<what-it-shows>"
    fi
done
finish
