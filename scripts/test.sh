#!/bin/bash
# Every test: the suite in a normal build, then again under AddressSanitizer
# and UndefinedBehaviorSanitizer, then the parsers' fuzz harnesses for a
# bounded time (CKPT_FUZZ_SECONDS each) in a clang + libFuzzer build.
# Ends with "N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One Azurite install (npm) for both builds.
export CKPT_AZURITE_HOME="$root/.azurite"
status=0
for variant in build build-san build-fuzz; do
    args=()
    [ "$variant" = build-san ] && args=(--enable-sanitizers)
    [ "$variant" = build-fuzz ] && args=(--enable-fuzzing)
    echo "== $variant: building"
    if ! "$root/scripts/build.sh" "$variant" "${args[@]}"; then
        echo "== $variant: build FAILED"
        status=1
        continue
    fi
    echo "== $variant: make check"
    # The sanitizer build keeps the 1 GiB case small: the normal build has it.
    [ "$variant" = build-san ] && export CKPT_TEST_BIG_BYTES=$((64 << 20))
    (cd "$root/$variant" && make check) || status=1
    unset CKPT_TEST_BIG_BYTES
    for log in "$root/$variant"/mpi-tests/*.log "$root/$variant"/fuzz/*.log; do
        [ -f "$log" ] || continue
        grep -q 'not ok' "$log" && { echo "--- $log"; grep -A12 'not ok' "$log" | head -40; }
    done
done
pass=0
fail=0
for line in $(cat "$root"/build*/mpi-tests/*.log "$root"/build*/fuzz/*.log 2>/dev/null |
              sed -n 's/^[a-z]*: \([0-9]*\) passed, \([0-9]*\) failed$/\1:\2/p'); do
    pass=$((pass + ${line%%:*}))
    fail=$((fail + ${line##*:}))
done
[ "$fail" -gt 0 ] && status=1
[ "$pass" -eq 0 ] && { echo "no test ran"; status=1; }
echo "libckpt: $pass passed, $fail failed"
exit $status
