#!/bin/bash
# ckpt_need_save: signals, intervals, Young/Daly, errors (4 ranks, 2 nodes).
. "$(dirname "$0")/common.sh"
ok "ckpt_need_save, 4 ranks on 2 nodes" run 4 "$top_builddir/mpi-tests/t_need"
finish
