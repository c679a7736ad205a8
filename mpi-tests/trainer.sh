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

# --elastic: weights replicated, Adam's moments sharded as global slices,
# each emulated node a root of its own. 8 ranks to step 30, then 4 ranks
# to step 40, then 6 ranks to step 60: each restart restores exactly the
# weights saved, and the run ends as an uninterrupted 8-rank run does (to
# rounding: sums over other numbers of ranks round differently). One rank
# per node after the first run: every old root stays in reach.
EL() { # EL NAME RANKS_PER_NODE: a config with a root per node
    CACHE="$T/$1/r%n" conf "$1" "ranks_per_node = $2"
}
wh() { # wh STEP LOG: the weights hash printed at that step
    grep -o "step $1 loss .*w-hash [0-9a-f]*" "$2" | grep -o '[0-9a-f]*$'
}
ok "elastic, 8 ranks, uninterrupted" run 8 "$TR" --elastic -c "$(EL elref 2)" -n 60 -k 10
cp "$T/last.log" "$T/elref.log"
ok "elastic, 8 ranks to step 30" run 8 "$TR" --elastic -c "$(EL el 2)" -n 30 -k 10
h30=$(wh 30 "$T/last.log")
ok "elastic, restarted on 4 ranks to step 40" run 4 "$TR" --elastic -c "$(EL el 1)" -n 40 -k 10
check "4 ranks: resumed from step 30 with the weights saved on 8 ($h30)" \
    grep -q "resumed from step 30 (level 2 after refill) on 4 ranks, w-hash $h30" "$T/last.log"
h40=$(wh 40 "$T/last.log")
ok "elastic, restarted on 6 ranks to step 60" run 6 "$TR" --elastic -c "$(EL el 1)" -n 60 -k 10
check "6 ranks: resumed from step 40 with the weights saved on 4 ($h40)" \
    grep -q "resumed from step 40 (level 2 after refill) on 6 ranks, w-hash $h40" "$T/last.log"
close() { # the final loss and weights of two runs agree to 1e-9 relative
    paste <(grep -o 'done: .*' "$1" | tr ' ,' '\n\n' | grep -E '^-?[0-9]\.[0-9]+e') \
          <(grep -o 'done: .*' "$2" | tr ' ,' '\n\n' | grep -E '^-?[0-9]\.[0-9]+e') |
        awk 'NF == 2 { n++; d = $1 - $2; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2
                       if (d > 1e-9 * a + 1e-15) bad++ }
             END { exit !(n == 3 && !bad) }'
}
check "8 -> 4 -> 6 ranks ends as the uninterrupted run (loss, weights)" \
    close "$T/last.log" "$T/elref.log"
finish
