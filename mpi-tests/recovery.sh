#!/bin/bash
# Node loss, double loss and damaged files, on even and uneven nodes.
. "$(dirname "$0")/common.sh"
ok "recovery, 6 ranks on 3 nodes" run 6 "$top_builddir/mpi-tests/t_recovery" 2
ok "recovery, 7 ranks on 4 uneven nodes" run 7 "$top_builddir/mpi-tests/t_recovery" 2
ok "recovery, 3 ranks on 3 nodes" run 3 "$top_builddir/mpi-tests/t_recovery" 1
finish
