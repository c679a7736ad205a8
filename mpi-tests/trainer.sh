#!/bin/bash
# The example trainer, killed midway, with one node's cache deleted, resumes
# from the partners and ends bit-identical to a run that never stopped.
. "$(dirname "$0")/common.sh"
TR="$top_builddir/examples/trainer"
REF=$(conf reference "ranks_per_node = 2")
RES=$(conf resumed "ranks_per_node = 2")

ok "uninterrupted run" run 8 "$TR" -c "$REF" -n 60 -k 10
ref=$(grep -o 'weights hash [0-9a-f]*' "$T/last.log")

run 8 "$TR" -c "$RES" -n 60 -k 10 --die-at 37 --die-rank 5 >"$T/killed.log" 2>&1
check "run killed at step 37" [ $? -ne 0 ]
check "rank 5's node (node-2) had a cache" [ -d "$T/cache/resumed/node-2" ]
rm -rf "$T/cache/resumed/node-2"

ok "restarted run" run 8 "$TR" -c "$RES" -n 60 -k 10
got=$(grep -o 'weights hash [0-9a-f]*' "$T/last.log")
check "resumed from step 30" grep -q "resumed from step 30 (level 2" "$T/last.log"
check "result bit-identical ($ref)" [ -n "$ref" ] && [ "$ref" = "$got" ]
finish
