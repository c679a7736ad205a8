#!/bin/bash
# Shared nodes: directories another user could control are refused.
. "$(dirname "$0")/common.sh"

ok "shared node: unsafe directories refused, 4 ranks on 2 nodes" \
    run 4 "$top_builddir/mpi-tests/t_shared"
finish
