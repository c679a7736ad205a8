#!/bin/bash
# Shared nodes, secrets and job names: directories another user could
# control are refused; no part of a key or SAS token is ever printed, by the
# library or the tools; every accepted job name round-trips through file://
# and Azurite storage.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/azurite.sh"

# Made up, in the forms of a real account key and SAS token.
export T_SECRET_KEY='c2VjcmV0IGtleSBvZiB0aGUgdGVzdCBhY2NvdW50OiBuZXZlciBpbiBhbnkgbG9nLCBlcnJvciBvciBvdXRwdQ=='
export T_SECRET_SAS='sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00%3A00%3A00Z&spr=https&sig=U2VjcmV0U2lnbmF0dXJlT2ZUaGVUZXN0U0FTVG9rZW4xMjM0NTY3OA%3D%3D'

no_secret() { # no_secret FILE: no 8 characters in a row of either secret
    python3 - "$1" <<'EOF'
import os, sys
text = open(sys.argv[1], 'rb').read()
for name in ('T_SECRET_KEY', 'T_SECRET_SAS'):
    s = os.environ[name].encode()
    for i in range(len(s) - 7):
        if s[i:i + 8] in text:
            print('    %s leaks %r of %s' % (sys.argv[1], s[i:i + 8], name))
            sys.exit(1)
EOF
}

ok "shared node: unsafe directories refused, 4 ranks on 2 nodes" \
    run 4 "$top_builddir/mpi-tests/t_shared"

ok "secrets: malformed input refused without echo, 4 ranks" \
    run 4 "$top_builddir/mpi-tests/t_secrets"
cp "$T/last.log" "$T/secrets.log"
check "secrets: the whole output at verbose = 3 holds no part of them" \
    no_secret "$T/secrets.log"

mkdir -p "$T/names-store"
ok "job names round-trip through file:// storage" \
    with CKPT_STORAGE_URL="file://$T/names-store" run 4 "$top_builddir/mpi-tests/t_names"

if ! start_azurite; then
    echo "not ok - Azurite could not be installed or started"
    exit 1
fi
"$top_builddir/mpi-tests/st_tool" "$AZ_URL/ckpt-sec" create
ok "job names round-trip through Azurite" \
    with CKPT_STORAGE_URL="$AZ_URL/ckpt-sec" run 4 "$top_builddir/mpi-tests/t_names"

# The tools: URLs with credentials are refused unprinted; a wrong key or
# SAS token in the environment is reported without it.
LS="$top_builddir/ckpt-ls"
tool() { # tool NAME STATUS MESSAGE CMD...: output kept in $T/NAME.out
    local name=$1 want=$2 says=$3
    shift 3
    "$@" >"$T/$name.out" 2>&1
    check "$name: exit status $want" [ $? -eq "$want" ]
    [ -z "$says" ] || check "$name: says '$says'" grep -qF "$says" "$T/$name.out"
    check "$name: no part of a secret in the output" no_secret "$T/$name.out"
}
tool ls-sas-url 2 "query string" \
    "$LS" -j job -s "https://acct.blob.core.windows.net/c?$T_SECRET_SAS"
tool ls-userinfo 2 "credentials before '@'" \
    "$LS" -j job -s "http://u:$T_SECRET_KEY@127.0.0.1:$AZ_PORT/devstoreaccount1/ckpt-sec"
tool ls-wrong-key 1 "refused the credentials" with AZURE_STORAGE_KEY="$T_SECRET_KEY" \
    "$LS" -j job -s "$AZ_URL/ckpt-sec"
tool ls-wrong-sas 1 "refused the credentials" \
    with AZURE_STORAGE_KEY= AZURE_STORAGE_SAS_TOKEN="$T_SECRET_SAS" \
    "$LS" -j job -s "$AZ_URL/ckpt-sec" --json
tool bench-sas-url 2 "query string" run 2 "$top_builddir/ckpt-bench" -b 1000 -r 1 \
    -d "$T/bench" --storage "https://acct.blob.core.windows.net/c?$T_SECRET_SAS"
tool bench-wrong-key 1 "" with AZURE_STORAGE_KEY="$T_SECRET_KEY" \
    run 2 "$top_builddir/ckpt-bench" -b 1000 -r 1 -d "$T/bench" --storage "$AZ_URL/ckpt-sec"
finish
