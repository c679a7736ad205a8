#!/bin/bash
# ckpt-ls on a real job: listing, JSON, and --verify catching damage.
. "$(dirname "$0")/common.sh"
P="$top_builddir/mpi-tests/t_pattern"
LS="$top_builddir/ckpt-ls"
CONF=$(conf lsjob "ranks_per_node = 2" "keep_local = 3")
ok "steps 1-3 saved" run 4 "$P" "$CONF" save 1 3 100000
ok "ckpt-ls lists" "$LS" -c "$T/cache" -j lsjob
check "three complete steps, all ranks with two copies" \
    [ "$(grep -c ' complete  *4  *0  *0' "$T/last.log")" -eq 3 ]
ok "ckpt-ls --verify on a healthy job" "$LS" -c "$T/cache" -j lsjob --verify
ok "ckpt-ls --json" "$LS" -c "$T/cache" -j lsjob --json
check "JSON parses and says 3 recoverable steps" python3 -c "
import json,sys; d=json.load(open('$T/last.log'))
sys.exit(0 if sum(s['recoverable'] for s in d['steps'])==3 else 1)"
# a flipped byte in one data set: --verify fails and names the file
printf 'Z' | dd of="$T/cache/lsjob/node-1/step-2/rank-0.h5" bs=1 seek=5000 conv=notrunc status=none
"$LS" -c "$T/cache" -j lsjob --verify >"$T/v.out" 2>"$T/v.err"
check "--verify exits non-zero on damage" [ $? -eq 1 ]
check "--verify names the damaged file" grep -q "node-1/step-2/rank-0.h5" "$T/v.err"
check "the damaged copy counts as lost" grep -qE '^ +2 .* complete +3 +1 +0' "$T/v.out"
rm -rf "$T/cache/lsjob/node-0"
"$LS" -c "$T/cache" -j lsjob >"$T/l.out"
check "a lost node leaves one copy per rank" grep -qE '^ +3 .* complete +0 +4 +0' "$T/l.out"
"$LS" -c "$T/cache" -j nosuchjob >/dev/null 2>&1
check "an unknown job is an error" [ $? -eq 1 ]
"$LS" -j lsjob >/dev/null 2>&1
check "missing -c is a usage error" [ $? -eq 2 ]
ok "ckpt-bench runs (small; restored bytes checked)" run 2 "$top_builddir/ckpt-bench" -b 1000000 -r 2 -d "$T/bench" --json
check "ckpt-bench JSON has every operation, its rounds and baselines" python3 -c "
import json; d=json.loads(open('$T/last.log').read().strip().splitlines()[-1])
for k in ['save_local','save_partner','restore_local','restore_lost']:
    o = d[k]
    assert len(o['seconds']) == 2 and len(o['baseline_seconds']) == 2, k
    assert o['gbs'] > 0 and o['ratio_of_medians'] > 0 and o['median_of_ratios'] > 0, k
assert len(d['time_to_redundancy_seconds']) == 2
assert 'device_write_gbs' in d and 'device_read_gbs' in d"
finish
