#!/bin/bash
# ckpt-ls on a real job: listing, JSON, and --verify catching damage.
. "$(dirname "$0")/common.sh"
P="$top_builddir/mpi-tests/t_pattern"
LS="$top_builddir/ckpt-ls"
CONF=$(conf lsjob "ranks_per_node = 2" "keep_local = 3")
ok "steps 1-3 saved" run 4 "$P" "$CONF" save 1 3 100000
ok "ckpt-ls lists" "$LS" -c "$T/cache" -j lsjob
check "three complete steps, all ranks with two copies" \
    [ "$(grep -c ' complete  *partner  *4  *0  *0' "$T/last.log")" -eq 3 ]
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
check "the damaged copy counts as lost" grep -qE '^ +2 .* complete +partner +3 +1 +0' "$T/v.out"
rm -rf "$T/cache/lsjob/node-0"
"$LS" -c "$T/cache" -j lsjob >"$T/l.out"
check "a lost node leaves one copy per rank" grep -qE '^ +3 .* complete +partner +0 +4 +0' "$T/l.out"
# redundancy = rs (2 + 2 on 4 nodes): the scheme, the parity files, a
# damaged parity file found by --verify, a lost node shown as degraded and
# then rebuilt by a restore
CONF=$(conf rsjob "ranks_per_node = 1" "redundancy = rs" "rs_data = 2")
ok "rs: steps 1-2 saved" run 4 "$P" "$CONF" save 1 2 100000
ok "rs: ckpt-ls lists" "$LS" -c "$T/cache" -j rsjob
check "rs: scheme, own files and 4 parity files per step" \
    [ "$(grep -cE ' complete +rs +0 +4 +0 +4 ' "$T/last.log")" -eq 2 ]
ok "rs: ckpt-ls --verify on a healthy job" "$LS" -c "$T/cache" -j rsjob --verify
ok "rs: ckpt-ls --json" "$LS" -c "$T/cache" -j rsjob --json
check "rs: JSON names the scheme" python3 -c "
import json,sys; d=json.load(open('$T/last.log'))
sys.exit(0 if all(s['scheme']=='rs' and s['parity_files']==4 for s in d['steps']) else 1)"
printf 'Z' | dd of="$T/cache/rsjob/node-2/step-2/parity-0.rs" bs=1 seek=100 conv=notrunc status=none
"$LS" -c "$T/cache" -j rsjob --verify >"$T/v.out" 2>"$T/v.err"
check "rs: --verify finds the damaged parity file" grep -q "node-2/step-2/parity-0.rs" "$T/v.err"
rm -rf "$T/cache/rsjob/node-1"
"$LS" -c "$T/cache" -j rsjob >"$T/l.out"
check "rs: a lost node is shown as degraded" grep -qE '^ +2 .* degraded +rs +0 +3 +1 +3 ' "$T/l.out"
ok "rs: step 2 restored exactly, node 1's file rebuilt" run 4 "$P" "$CONF" check 100000 2
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
