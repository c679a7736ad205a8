# Shared by the test scripts: mpirun as the tests need it, a private
# directory, config files, and checks that count.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${MPIRUN:=mpirun}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Emulated nodes put more ranks than cores on one machine.
export OMPI_MCA_rmaps_base_oversubscribe=1
# AddressSanitizer's memory checks and UBSan run in the sanitizer build, but
# LeakSanitizer is off: Open MPI leaks at exit from components it has already
# unloaded, so those leaks cannot be told apart from ours (docs/TESTING.md).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
T="${TMPDIR:-/tmp}/ckpt-tests/$(basename "$0" .sh)"
rm -rf "$T" && mkdir -p "$T"
PASS=0
FAIL=0

run() { # run NP CMD...: mpirun with NP ranks
    local np=$1
    shift
    "$MPIRUN" --oversubscribe -np "$np" "$@"
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

ok() { # ok DESCRIPTION CMD...: the command must succeed
    local what=$1
    shift
    if "$@" >"$T/last.log" 2>&1; then
        PASS=$((PASS + 1))
        echo "ok - $what"
    else
        FAIL=$((FAIL + 1))
        echo "not ok - $what"
        sed 's/^/    /' "$T/last.log" | tail -30
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

finish() {
    echo "$(basename "$0" .sh): $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
