#!/bin/bash
# The figures of docs/SCALING.md: checks ckpt-sim against the measured scale
# runs (docs/data/scale-{128,200}.json), simulates 1,000 to 100,000 nodes
# with prefix-spread and sequential names, and plots (gnuplot).
# usage: tools/scaling-report.sh [--measure | --plot-only]  (--measure first
#        reruns tools/scale-run.sh, about 2 minutes; --plot-only replots
#        docs/data/sim.csv). The simulations take about 4 minutes.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
B="${BUILD:-$root/build}"
data="$root/docs/data" img="$root/docs/img"
command -v gnuplot >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq gnuplot-nox >/dev/null; }
[ -x "$B/ckpt-sim" ] || "$root/scripts/build.sh" build
mkdir -p "$data" "$img"
[ "${1:-}" = --measure ] && "$root/tools/scale-run.sh"
out="$data/sim.csv"
if [ "${1:-}" != --plot-only ]; then

# Azurite serves about 170 requests/s here, queueing the rest: the one
# parameter fitted, on the 128-node direct run. Everything else is predicted.
AZURITE="--service-rps 170 --account-ingress 1e12 --latency 0.005"
for n in 128 200; do
    "$B/ckpt-sim" --bench "$data/scale-$n.json" --validate --tolerance 0.25 \
        $AZURITE | tee "$data/validate-$n.txt"
done

# A training cluster: 8 ranks and 1 GiB of checkpoint per node, a checkpoint
# every 10 minutes, every 3rd to storage, one storage account per 1,000 nodes
# (Azure's published per-account targets: 20,000 requests/s, 7.5 GB/s in,
# 15 GB/s out), 2,000 requests/s per partition, 500 per blob.
CLUSTER="--ranks-per-node 8 --bytes-per-node 1073741824 --interval 600
         --checkpoints 3 --persist-every 3"
header=--csv-header
: >"$out"
for naming in prefix sequential; do
    for n in 1000 3000 10000 30000 100000; do
        a=$(( n / 1000 > 0 ? n / 1000 : 1 ))
        echo "simulating $n nodes, $naming names, $a accounts" >&2
        "$B/ckpt-sim" $CLUSTER --nodes $n --accounts $a --naming $naming \
            --csv $header >>"$out"
        header=
    done
done
# Whether storage keeps up at 100,000 nodes with sequential names: 12
# checkpoints, 4 of them stored, to see the backlog (about 2.5 minutes).
echo "simulating the 100,000-node sequential-name backlog" >&2
"$B/ckpt-sim" $CLUSTER --checkpoints 12 --nodes 100000 --accounts 100 \
    --naming sequential | tee "$data/sim-backlog-100k.txt"
fi
column -s, -t <"$out"

# stall and requests/s per partition against nodes (columns of sim.csv:
# 1 mode, 2 nodes, 3 naming, 7 stall_s, 8 to_storage_s, 13 peak_partition_rps)
sel() { awk -F, -v m="$1" -v x="$2" 'NR > 1 && $1 == m && $3 == x' "$out"; }
sel direct prefix >"$data/plot-direct-prefix.dat"
sel direct sequential >"$data/plot-direct-sequential.dat"
sel writeback prefix >"$data/plot-writeback-prefix.dat"
sel writeback sequential >"$data/plot-writeback-sequential.dat"
cd "$data"
gnuplot <<'GP'
set terminal pngcairo size 900,560 font "sans,11"
set datafile separator ","
set logscale xy
set grid
set key top left
set xlabel "nodes"
set output "../img/stall.png"
set title "Program stall per checkpoint (simulated; 1 GiB per node)"
set ylabel "seconds"
plot "plot-direct-prefix.dat" using 2:7 with linespoints title "direct upload, hash-prefixed names", \
     "plot-direct-sequential.dat" using 2:7 with linespoints title "direct upload, sequential names", \
     "plot-writeback-prefix.dat" using 2:7 with linespoints title "libckpt writeback (cache stall)", \
     "plot-writeback-prefix.dat" using 2:8 with linespoints dt 2 title "libckpt: time until the step is in storage (prefix)", \
     "plot-writeback-sequential.dat" using 2:8 with linespoints dt 3 title "libckpt: time until in storage (sequential)"
set output "../img/partition-rps.png"
set title "Peak requests/s on one storage partition (simulated; limit 2,000)"
set ylabel "requests per second"
plot "plot-direct-prefix.dat" using 2:13 with linespoints title "direct, hash-prefixed names", \
     "plot-direct-sequential.dat" using 2:13 with linespoints title "direct, sequential names", \
     "plot-writeback-prefix.dat" using 2:13 with linespoints title "libckpt writeback, prefix-spread", \
     "plot-writeback-sequential.dat" using 2:13 with linespoints title "libckpt writeback, sequential"
GP
echo "wrote $img/stall.png and $img/partition-rps.png"
