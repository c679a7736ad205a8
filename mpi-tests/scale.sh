#!/bin/bash
# A small scale run (32 emulated nodes, one rank each) through
# tools/scale-run.sh against Azurite: every mode restores every byte after
# losing 10% of the nodes, and the storage requests are exactly what the
# design says: one object per node per step plus one manifest.
. "$(dirname "$0")/common.sh"
N=32
STEPS=3
ok "scale run, $N nodes" "$top_srcdir/tools/scale-run.sh" -o "$T" -b 262144 -s $STEPS -k 1 $N
CSV="$T/scale-$N.csv"
field() { # field MODE COLUMN: a value of the CSV
    python3 -c "import csv,sys
for r in csv.DictReader(open('$CSV')):
    if r['mode'] == '$1': print(r['$2'])" 2>/dev/null
}
for m in direct cache writeback; do
    check "$m: every restore verified" test "$(field $m verified)" = 1
done
check "direct: one object per rank and step" test "$(field direct req_put)" -eq $((N * STEPS))
check "cache: no storage request" test "$(field cache req_put)$(field cache req_get)" = 00
check "writeback: every step stored" test "$(field writeback steps_stored)" -eq $STEPS
check "writeback: one object per node per step + 1 manifest" \
    test "$(field writeback req_put)" -eq $(((N + 1) * STEPS))
check "writeback: no block requests below the block size" \
    test "$(field writeback req_put-block)" -eq 0
check "writeback: one list at init" test "$(field writeback req_list)" -eq 1
check "writeback: restore from storage is 1 manifest + 1 range per rank" \
    test "$(field writeback restore_requests)" -eq $((N + 1))

# The simulator reproduces this run's request counts exactly.
ok "ckpt-sim reproduces the run's request counts" \
    "$top_builddir/ckpt-sim" --bench "$T/scale-$N.json" --validate --tolerance 100
finish
