#!/bin/bash
# The STORAGE level against rclone, in one run on one Azurite: rclone copies
# RANKS files of BYTES up to a container and back (its default settings),
# then ckpt-bench --storage saves, uploads and restores the same bytes, then
# rclone runs again; the faster of rclone's two runs is the baseline.
# usage: tools/bench-storage.sh [RANKS] [RANKS_PER_NODE] [BYTES] [ROUNDS]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
NP=${1:-4}
RPN=${2:-2}
BYTES=${3:-$((64 << 20))}
ROUNDS=${4:-3}
export top_builddir="${BUILD:-$root/build}" top_srcdir="$root"
export CKPT_AZURITE_HOME="$root/.azurite"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
command -v rclone >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq rclone >/dev/null; } || exit 1
[ -x "$top_builddir/ckpt-bench" ] || "$root/scripts/build.sh" build || exit 1
[ -x "$top_builddir/mpi-tests/st_tool" ] ||
    make -s -C "$top_builddir" mpi-tests/st_tool >/dev/null || exit 1
T="${TMPDIR:-/tmp}/ckpt-bench-storage"
rm -rf "$T" && mkdir -p "$T/up"
. "$root/mpi-tests/azurite.sh"
start_azurite || exit 1
ST="$top_builddir/mpi-tests/st_tool"
"$ST" "$AZ_URL/bench-ckpt" create && "$ST" "$AZ_URL/bench-rclone" create || exit 1
SAS=$("$ST" sas "$AZURE_STORAGE_ACCOUNT" "$AZURE_STORAGE_KEY")
export RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_SAS_URL="$AZ_URL/bench-rclone?$SAS"

for i in $(seq 0 $((NP - 1))); do
    head -c "$BYTES" /dev/urandom >"$T/up/rank-$i.h5"
done
total=$((NP * BYTES))
mbs() { python3 -c "print('%.1f' % ($total / ($2 - $1) / 1e6))"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# rclone_rounds LABEL: ROUNDS uploads and downloads; prints both medians.
rclone_rounds() {
    local ups=() downs=() t0 t1 t2 r
    for r in $(seq "$ROUNDS"); do
        t0=$(date +%s.%N)
        rclone copy "$T/up" "az:bench-rclone/$1-$r" || exit 1
        t1=$(date +%s.%N)
        rclone copy "az:bench-rclone/$1-$r" "$T/down-$r" || exit 1
        t2=$(date +%s.%N)
        for f in "$T"/up/*; do
            cmp -s "$f" "$T/down-$r/${f##*/}" || { echo "rclone copy differs" >&2; exit 1; }
        done
        rm -rf "$T/down-$r"
        ups+=("$(mbs "$t0" "$t1")")
        downs+=("$(mbs "$t1" "$t2")")
    done
    echo "rclone $1: upload $(median "${ups[@]}") MB/s (rounds: ${ups[*]}), download $(median "${downs[@]}") MB/s (rounds: ${downs[*]})" >&2
    echo "$(median "${ups[@]}") $(median "${downs[@]}")"
}
echo "rclone $(rclone version | head -1 | awk '{print $2}'): $NP files of $BYTES bytes, $ROUNDS rounds, before and after libckpt"
read -r up1 down1 < <(rclone_rounds before)
mpirun --oversubscribe -np "$NP" "$top_builddir/ckpt-bench" -b "$BYTES" -r "$ROUNDS" \
    -n "$RPN" -d "$T/bench" --storage "$AZ_URL/bench-ckpt" | tee "$T/ckpt.out"
read -r up2 down2 < <(rclone_rounds after)
best() { python3 -c "print(max($1, $2))"; }
up=$(best "$up1" "$up2") down=$(best "$down1" "$down2")
json=$(grep '^json: ' "$T/ckpt.out" | sed 's/^json: //')
python3 - "$up" "$down" "$json" <<'PY'
import json, sys
up, down, j = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
print("rclone baseline (faster run): upload %.1f MB/s, download %.1f MB/s" % (up, down))
print("libckpt upload / rclone upload            %.2f x (goal >= 1)" % (j["upload_mbs"] / up))
print("libckpt whole restore / rclone download   %.2f x (goal >= 1.2)" % (j["download_mbs"] / down))
PY
