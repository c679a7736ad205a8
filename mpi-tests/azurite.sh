# Sourced by the storage tests: installs Azurite (npm) into a folder of the
# build tree once, starts it on a free loopback port with its data in $T,
# and stops it when the script ends. A missing Azurite is a failure.
AZ_HOME="${CKPT_AZURITE_HOME:-$top_builddir/azurite}"
AZ_BIN="$AZ_HOME/node_modules/.bin/azurite-blob"
export AZURE_STORAGE_ACCOUNT=devstoreaccount1
# Azurite's published development key, not a secret.
export AZURE_STORAGE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
unset AZURE_STORAGE_SAS_TOKEN

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # wait_port PORT: until something listens there (10 s)
    local i
    for i in $(seq 100); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

start_azurite() {
    if [ ! -x "$AZ_BIN" ]; then
        mkdir -p "$AZ_HOME"
        npm install --prefix "$AZ_HOME" --no-audit --no-fund --loglevel=error \
            azurite@3 >"$T/npm.log" 2>&1 || { cat "$T/npm.log"; return 1; }
    fi
    AZ_PORT=$(free_port)
    mkdir -p "$T/azurite"
    "$AZ_BIN" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" --location "$T/azurite" \
        --silent >"$T/azurite.log" 2>&1 &
    AZ_PID=$!
    trap 'kill $AZ_PID ${PROXY_PID:-} 2>/dev/null' EXIT
    wait_port "$AZ_PORT" || { cat "$T/azurite.log"; return 1; }
    AZ_URL="http://127.0.0.1:$AZ_PORT/devstoreaccount1"
}

start_proxy() { # start_proxy [MODE]: the fault-injecting proxy in front of
    # Azurite (faultproxy.py says which modes there are); replaces a running one
    if [ -n "${PROXY_PID:-}" ]; then
        kill "$PROXY_PID" 2>/dev/null
        wait "$PROXY_PID" 2>/dev/null
    fi
    rm -f "$T/proxy.port" "$T/proxy.stats"
    "$top_srcdir/mpi-tests/faultproxy.py" "$AZ_PORT" "$T/proxy.port" \
        "$T/proxy.stats" ${1:+"$1"} >"$T/proxy.log" 2>&1 &
    PROXY_PID=$!
    for _ in $(seq 100); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
    PROXY_URL="http://127.0.0.1:$(cat "$T/proxy.port")/devstoreaccount1"
}
