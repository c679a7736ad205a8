#!/bin/bash
# The Reed-Solomon level: lost node pairs, damaged parity, too many losses,
# storage fallback; one group of 6 nodes, a group of 7 (the node left over
# joins it), and uneven nodes (the last one has fewer ranks).
. "$(dirname "$0")/common.sh"
ok "rs, 6 ranks on 6 nodes" run 6 "$top_builddir/mpi-tests/t_rs" 1
ok "rs, 7 ranks on 7 nodes, one group of 7" run 7 "$top_builddir/mpi-tests/t_rs" 1
ok "rs, 11 ranks on 6 uneven nodes" run 11 "$top_builddir/mpi-tests/t_rs" 2
CKPT_RESTORE_CHECK=first ok "rs, 6 nodes, restore_check = first" \
    run 6 -x CKPT_RESTORE_CHECK "$top_builddir/mpi-tests/t_rs" 1
# Fewer nodes than k + m: one node has no parity (LOCAL, warned), two nodes
# mirror each other (1 + 1) and survive the loss of either.
P="$top_builddir/mpi-tests/t_pattern"
CONF=$(conf rslone "ranks_per_node = 4" "redundancy = rs")
ok "rs, one node: saved" run 2 "$P" "$CONF" save 1 2 100000
check "rs, one node: the warning says LOCAL" grep -q "no RS parity, checkpoints are at LOCAL" "$T/last.log"
ok "rs, one node: restored" run 2 "$P" "$CONF" check 100000
CONF=$(conf rstwo "ranks_per_node = 2" "redundancy = rs")
ok "rs, two nodes: saved" run 4 "$P" "$CONF" save 1 2 100000
rm -rf "$T/cache/rstwo/node-1"
ok "rs, two nodes, node 1 lost: restored exactly" run 4 "$P" "$CONF" check 100000
check "rs, two nodes: step 2, rebuilt" grep -q "restored 2" "$T/last.log"
finish
