# Shared by the test scripts: mpirun as the tests need it, a private
# directory, config files, and checks that count.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${MPIRUN:=mpirun}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Emulated nodes put more ranks than cores on one machine.
export OMPI_MCA_rmaps_base_oversubscribe=1
T="${TMPDIR:-/tmp}/ckpt-tests/$(basename "$0" .sh)"
rm -rf "$T" && mkdir -p "$T"
# In the sanitizer build LeakSanitizer reports to $T/lsan.* without failing
# the process: Open MPI leaks at exit from components it has unloaded, which
# no suppression can name. Our own leaks are then found by their frames in
# the sources (src/, tools/, examples/, the tests): see ours_leaked.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="exitcode=0:log_path=$T/lsan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
PASS=0
FAIL=0

run() { # run NP CMD...: mpirun with NP ranks
    local np=$1
    shift
    "$MPIRUN" --oversubscribe -np "$np" "$@"
}

with() { # with VAR=VALUE... CMD...: runs CMD (a function too) with them set
    (
        while [[ "$1" == *=* ]]; do
            export "${1%%=*}=${1#*=}"
            shift
        done
        "$@"
    )
}

conf() { # conf NAME LINES...: writes $T/NAME.conf, prints its path
    local name=$1
    shift
    {
        echo "cache_dir = ${CACHE:-$T/cache}"
        echo "job = $name"
        echo "verbose = ${VERBOSE:-1}"
        printf '%s\n' "$@"
    } >"$T/$name.conf"
    echo "$T/$name.conf"
}

# A stack frame in one of our source files (parsers.sh checks that it
# matches every one of them).
OURS_FRAME_RE='/(src|tools|examples|mpi-tests|fuzz)/([a-z]+/)?[A-Za-z_-]+\.c:[0-9]'
ours_leaked() { # leak reports with a frame in our sources, printed
    local f
    for f in "$T"/lsan.*; do
        [ -f "$f" ] || continue
        if grep -qE "$OURS_FRAME_RE" "$f"; then
            echo "    leak in our code ($f):"
            grep -B2 -A12 -E "$OURS_FRAME_RE" "$f" |
                head -30 | sed 's/^/    /'
            return 0
        fi
    done
    rm -f "$T"/lsan.*
    return 1
}

ok() { # ok DESCRIPTION CMD...: the command must succeed, leaking nothing of ours
    local what=$1
    shift
    : >"$T/leaks.log"
    if "$@" >"$T/last.log" 2>&1 && ! ours_leaked >"$T/leaks.log"; then
        PASS=$((PASS + 1))
        echo "ok - $what"
    else
        FAIL=$((FAIL + 1))
        echo "not ok - $what"
        sed 's/^/    /' "$T/last.log" | tail -30
        cat "$T/leaks.log" 2>/dev/null
    fi
}

check() { # check DESCRIPTION TEST-EXPRESSION...
    local what=$1
    shift
    if "$@"; then
        PASS=$((PASS + 1))
        echo "ok - $what"
    else
        FAIL=$((FAIL + 1))
        echo "not ok - $what"
    fi
}

wait_gone() { # wait_gone PATTERN: a killed job's processes are gone, as a
    # scheduler would wait before a restart
    local i
    for i in $(seq 100); do
        pgrep -f "$1" >/dev/null || return 0
        sleep 0.1
    done
    echo "    processes of the killed job are still alive"
}

finish() {
    echo "$(basename "$0" .sh): $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
