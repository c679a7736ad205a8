#!/bin/bash
# The STORAGE level against real services: Azurite (Shared Key and SAS, and
# through a fault-injecting proxy) and a file:// directory; a job killed
# mid-upload; storage down; refused credentials; a missing container.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/azurite.sh"
P="$top_builddir/mpi-tests/t_storage"
ST="$top_builddir/mpi-tests/st_tool"

if ! start_azurite; then
    echo "not ok - Azurite could not be installed or started"
    exit 1
fi
for c in key sas faults killed file; do
    "$ST" "$AZ_URL/ckpt-$c" create || echo "cannot create container ckpt-$c"
done
SAS=$("$ST" sas "$AZURE_STORAGE_ACCOUNT" "$AZURE_STORAGE_KEY")

ok "azure, shared key, 6 ranks on 3 nodes" \
    with CKPT_STORAGE_URL="$AZ_URL/ckpt-key" run 6 "$P"
# ckpt-ls beside the job the 6-rank run left (steps 1 and 2, both committed)
LS="$top_builddir/ckpt-ls"
JOBDIR="${TMPDIR:-/tmp}/ckpt-tests/t_storage-np6/allcaches-np6"
ok "ckpt-ls --storage lists committed steps" \
    "$LS" -c "$JOBDIR/cache" --storage "$AZ_URL/ckpt-key" -j allcaches-np6
check "ckpt-ls: step 2 is cached and in storage" \
    grep -qE '^ +2 +3 +6 .* complete .* yes' "$T/last.log"
ok "ckpt-ls --storage alone, as JSON" \
    "$LS" --storage "$AZ_URL/ckpt-key" -j allcaches-np6 --json
check "ckpt-ls: JSON says steps 1 and 2 are in storage" \
    test "$(grep -c '"in_storage": true' "$T/last.log")" -eq 2
ok "azure, shared key, 7 ranks on 4 uneven nodes" \
    with CKPT_STORAGE_URL="$AZ_URL/ckpt-key" run 7 "$P"
ok "azure, SAS token, 6 ranks" \
    with CKPT_STORAGE_URL="$AZ_URL/ckpt-sas" AZURE_STORAGE_KEY= \
    AZURE_STORAGE_SAS_TOKEN="$SAS" run 6 "$P"
mkdir -p "$T/shared"
ok "file://, 6 ranks on 3 nodes" with CKPT_STORAGE_URL="file://$T/shared" run 6 "$P"
ok "file://, 5 ranks on 3 uneven nodes" with CKPT_STORAGE_URL="file://$T/shared" run 5 "$P"

# Planted, stale and damaged storage objects, on both services.
"$ST" "$AZ_URL/ckpt-adversary" create || echo "cannot create container ckpt-adversary"
ok "storage adversary, azure, 6 ranks" \
    with CKPT_STORAGE_URL="$AZ_URL/ckpt-adversary" run 6 "$P" adversary
mkdir -p "$T/adversary"
ok "storage adversary, file://, 6 ranks" \
    with CKPT_STORAGE_URL="file://$T/adversary" run 6 "$P" adversary

# Every other request fails: 503 + Retry-After, 500, reset, stall, truncation.
start_proxy
ok "azure through the fault proxy, 6 ranks" \
    with CKPT_STORAGE_URL="$PROXY_URL/ckpt-faults" run 6 "$P"
for f in 503 500 reset stall truncate; do
    check "fault proxy injected '$f'" python3 -c "import json,sys
s = json.load(open('$T/proxy.stats'))
print('    %s: %d of %d requests' % ('$f', s['injected']['$f'], s['requests']))
sys.exit(s['injected']['$f'] < 2)"
done

# SIGKILL while step 2 uploads; the restart, with every cache gone, gets step 1.
for url in "$AZ_URL/ckpt-killed" "file://$T/shared"; do
    with CKPT_STORAGE_URL="$url" run 4 "$P" kill >"$T/kill.log" 2>&1
    check "killed mid-upload ($url): the job died" test $? -ne 0
    wait_gone "$P kill"
    ok "killed mid-upload ($url): restart restores the previous committed step" \
        with CKPT_STORAGE_URL="$url" run 4 "$P" after-kill
done

# Nothing listens: saves and cache restores still work, waits fail cleanly.
ok "storage down: saves succeed, nothing is lost" \
    with CKPT_STORAGE_URL="http://127.0.0.1:$(free_port)/devstoreaccount1/ckpt-down" \
    run 4 "$P" down

WRONG=$(printf 'not the key of this account, but base64 all the same' | base64 -w0)
ok "wrong key: ckpt_init fails with CKPT_ESTORAGE on every rank" \
    with CKPT_STORAGE_URL="$AZ_URL/ckpt-key" AZURE_STORAGE_KEY="$WRONG" \
    CKPT_VERBOSE=1 run 2 "$P" refused
check "wrong key: the message says what to fix" grep -q "check storage_key" "$T/last.log"
check "wrong key: the key is not printed" bash -c "! grep -qF '$WRONG' '$T/last.log'"
ok "missing container: ckpt_init fails with CKPT_ESTORAGE" \
    with CKPT_STORAGE_URL="$AZ_URL/no-such-container" CKPT_VERBOSE=1 run 2 "$P" refused
check "missing container: the message says what to fix" \
    grep -q "container 'no-such-container' does not exist" "$T/last.log"
finish
