#!/bin/bash
# The API contract (arguments, configuration, mismatches) on 4 ranks.
. "$(dirname "$0")/common.sh"
ok "api contract, 4 ranks on 2 nodes" run 4 "$top_builddir/mpi-tests/t_api"
finish
