#!/bin/bash
# No unbounded wait, whatever storage answers: the parsers of its answers
# over good and malformed inputs, then Azurite behind faultproxy.py in each
# of its bad modes, with storage_timeout = 3 s. Every run is under a
# watchdog, so a regression fails here instead of hanging; every failure
# must come on its own, within storage_timeout + SLACK seconds, and say why.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/azurite.sh"
ST="$top_builddir/mpi-tests/st_tool"
W="$top_builddir/mpi-tests/t_waits"
export CKPT_STORAGE_TIMEOUT=3
SLACK=15                 # this machine is slow and shared; an unbounded
B=$((3 + SLACK))         # wait (20 s, forever) is still far beyond B
WATCHDOG=120

ok "parsers of storage answers: Retry-After, Content-Length, List Blobs" \
    "$top_builddir/mpi-tests/t_parse_storage"

if ! start_azurite; then
    echo "not ok - Azurite could not be installed or started"
    exit 1
fi
"$ST" "$AZ_URL/ckpt-waits" create || echo "cannot create container ckpt-waits"
head -c 4096 /dev/urandom >"$T/obj"
"$ST" "$AZ_URL/ckpt-waits" put job/obj "$T/obj" || echo "cannot put job/obj"

requests() { python3 -c "import json; print(json.load(open('$T/proxy.stats'))['$1'])"; }

says() { check "$1: says '$2'" grep -qF -- "$2" "$T/last.log"; }

# fails_within DESCRIPTION TEXT CMD...: CMD fails on its own (not killed by
# the watchdog) within B seconds, and its output holds TEXT. Sets TOOK.
fails_within() {
    local what=$1 text=$2 t0 rc
    shift 2
    t0=$(date +%s.%N)
    timeout -k 5 "$WATCHDOG" "$@" >"$T/last.log" 2>&1
    rc=$?
    TOOK=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    check "$what: fails (exit $rc) after $TOOK s, within $B s" \
        awk -v rc="$rc" -v t="$TOOK" -v b="$B" \
        'BEGIN { exit !(rc != 0 && rc != 124 && rc != 137 && t <= b) }'
    says "$what" "$text"
    grep -qF -- "$text" "$T/last.log" || sed 's/^/    /' "$T/last.log" | tail -5
}

# st MODE WHAT TEXT CMD-ARGS...: st_tool behind the proxy in MODE
st() {
    local mode=$1 what=$2 text=$3
    shift 3
    start_proxy "$mode"
    fails_within "$mode: $what" "$text" "$ST" "$PROXY_URL/ckpt-waits" "$@"
}

at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# Retry-After: honoured when it fits before the deadline, else the request
# gives up at once; a value that is not delta-seconds is ignored.
st retry-after=20 "GET" "asked to retry after 20 s" get job/obj "$T/out"
check "retry-after=20: one request, no retry past the deadline" \
    test "$(requests requests)" -eq 1
st retry-after=2 "GET" "still failing after 2 tries" get job/obj "$T/out"
check "retry-after=2: honoured (2 tries, $TOOK s >= 2 s)" at_least "$TOOK" 2
for v in inf garbage -5 1.5 99999999999999999999 "Wed, 21 Oct 2015 07:28:00 GMT"; do
    st "retry-after=$v" "GET" "(storage_timeout)" get job/obj "$T/out"
    check "retry-after=$v: ignored, our backoff retried ($(requests requests) tries)" \
        at_least "$(requests requests)" 3
done
st "retry-after=inf" "List Blobs" "(storage_timeout)" list job/

# Answers that never end, or are too large to keep.
st hang "GET" "(storage_timeout)" get job/obj "$T/out"
st trickle "GET of a body trickled at 5 KiB/s" "no complete answer within 3 s" \
    get job/obj "$T/out"
st trickle "List Blobs trickled" "(storage_timeout)" list job/
st huge "GET with Content-Length 100 MiB" "larger than 64 MiB" get job/obj "$T/out"
check "huge: refused at once (1 request)" test "$(requests requests)" -eq 1
st huge-chunked "GET of an endless chunked body" "larger than 64 MiB" \
    get job/obj "$T/out"
st bad-length "GET" "malformed Content-Length" get job/obj "$T/out"

# Listings that would never end, and malformed pages.
st list-repeat "List Blobs" "storage repeats its listing marker" list job/
check "list-repeat: stopped at the second page" test "$(requests lists)" -eq 2
st list-endless "List Blobs" "had not ended after" list job/
says "list-endless: given up as storage that does not answer" "(storage_timeout)"
for kind in notxml root noname empty-name control long-name outside \
            long-marker dtd two-blobs; do
    st "list-bad=$kind" "List Blobs" "storage sent a malformed blob list" list job/
done

# The library on 4 ranks (2 nodes) behind the proxy: ckpt_init, and a step's
# upload, end within the bound with the same outcome on every rank.
waits() { # waits DESCRIPTION MODE T_WAITS-ARGS...
    local what=$1
    start_proxy "$2"
    shift 2
    ok "$what" with CKPT_STORAGE_URL="$PROXY_URL/ckpt-waits" \
        timeout -k 5 "$WATCHDOG" "$MPIRUN" --oversubscribe -np 4 "$W" "$@"
    grep -E '^ckpt_(init|wait):' "$T/last.log" | sed 's/^/    /'
}
waits "retry-after=20: ckpt_wait is CKPT_ESTORAGE on every rank within $B s" \
    retry-after=20 upload "$B" "asked to retry after 20 s"
says "retry-after=20" "storage does not answer"
for v in inf garbage; do
    waits "retry-after=$v: ckpt_init returns (warns) within $B s" \
        "retry-after=$v" init OK "$B"
    says "retry-after=$v" "storage does not answer"
done
waits "hang: ckpt_wait is CKPT_ESTORAGE on every rank within $B s" \
    hang upload "$B" "(storage_timeout)"
waits "trickle: ckpt_init returns (warns) within $B s" trickle init OK "$B"
waits "list-repeat: ckpt_init is CKPT_ESTORAGE on every rank" \
    list-repeat init ESTORAGE "$B"
says "list-repeat" "storage repeats its listing marker"
waits "list-endless: ckpt_init returns (warns) within $B s" \
    list-endless init OK "$B"
says "list-endless" "had not ended after"
waits "list-bad=control: ckpt_init is CKPT_ESTORAGE on every rank" \
    list-bad=control init ESTORAGE "$B"
says "list-bad=control" "storage sent a malformed blob list"

# file:// storage: an object too large to keep in memory, and a FIFO
# (whose open would block), are refused at once.
mkdir -p "$T/files/job"
truncate -s 65M "$T/files/job/big"
mkfifo "$T/files/job/fifo"
fails_within "file://: get of a 65 MiB object" "at most 64 MiB" \
    "$ST" "file://$T/files" get job/big "$T/out"
fails_within "file://: get of a FIFO" "not a regular file" \
    "$ST" "file://$T/files" get job/fifo "$T/out"
finish
