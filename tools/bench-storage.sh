#!/bin/bash
# The STORAGE level against rclone, in one run on one Azurite: rclone copies
# RANKS files of BYTES up to a container and back (its default settings),
# then ckpt-bench --storage saves, uploads and restores the same bytes.
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
ups=() downs=()
for r in $(seq "$ROUNDS"); do
    t0=$(date +%s.%N)
    rclone copy "$T/up" "az:bench-rclone/round-$r" || exit 1
    t1=$(date +%s.%N)
    rclone copy "az:bench-rclone/round-$r" "$T/down-$r" || exit 1
    t2=$(date +%s.%N)
    cmp -s "$T/up/rank-0.h5" "$T/down-$r/rank-0.h5" || { echo "rclone copy differs"; exit 1; }
    rm -rf "$T/down-$r"
    ups+=("$(mbs "$t0" "$t1")")
    downs+=("$(mbs "$t1" "$t2")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "rclone $(rclone version | head -1 | awk '{print $2}'): $NP files of $BYTES bytes, $ROUNDS rounds"
echo "rclone upload              $(median "${ups[@]}") MB/s  (rounds: ${ups[*]})"
echo "rclone download            $(median "${downs[@]}") MB/s  (rounds: ${downs[*]})"
mpirun --oversubscribe -np "$NP" "$top_builddir/ckpt-bench" -b "$BYTES" -r "$ROUNDS" \
    -n "$RPN" -d "$T/bench" --storage "$AZ_URL/bench-ckpt"
