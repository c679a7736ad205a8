#!/bin/bash
# The Reed-Solomon level: lost node pairs, damaged parity, too many losses,
# storage fallback; one group of 6 nodes, a group of 7 (the node left over
# joins it), and uneven nodes (the last one has fewer ranks).
. "$(dirname "$0")/common.sh"
ok "rs, 6 ranks on 6 nodes" run 6 "$top_builddir/mpi-tests/t_rs" 1
ok "rs, 7 ranks on 7 nodes, one group of 7" run 7 "$top_builddir/mpi-tests/t_rs" 1
ok "rs, 11 ranks on 6 uneven nodes" run 11 "$top_builddir/mpi-tests/t_rs" 2
finish
