#!/bin/bash
# The caches under attack (t_adversary.c): swapped, planted, stale,
# truncated and re-sealed files; with both restore_check settings, on even
# and uneven nodes.
. "$(dirname "$0")/common.sh"
A="$top_builddir/mpi-tests/t_adversary"
ok "adversary, 6 ranks on 3 nodes" run 6 "$A"
ok "adversary, restore_check = first, 6 ranks" run 6 "$A" first
ok "adversary, 7 ranks on 4 uneven nodes" run 7 "$A"
finish
