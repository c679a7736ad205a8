#!/bin/bash
# ckpt-flush: a job that ran in cache mode (4 ranks, 2 emulated nodes, one
# root each) is drained to file:// storage after it ended, node by node and
# with runs at once; a damaged rank file or part is refused; every cache is
# then lost and the job resumes from storage bit-identical; a step the
# program committed itself is left alone; bad usage says what is wrong.
. "$(dirname "$0")/common.sh"
TR="$top_builddir/examples/trainer"
FL="$top_builddir/ckpt-flush"
LS="$top_builddir/ckpt-ls"
mkdir -p "$T/store"
URL="file://$T/store"

status() { # status FILE CMD...: runs CMD, output to FILE, prints its exit status
    local out=$1
    shift
    "$@" >"$out" 2>&1
    echo $?
}

# The reference: 40 steps, never interrupted.
REF=$(CACHE="$T/ref" conf ref "ranks_per_node = 2")
ok "reference job, 40 steps" run 4 "$TR" -c "$REF" -n 40 -k 10
want=$(grep -o 'done: .*weights hash [0-9a-f]*' "$T/last.log" | grep -o '[0-9a-f]*$')

# The job: cache mode, ends at step 30 with steps 20 and 30 cached.
CONF=$(CACHE="$T/roots/r%n" conf fjob "ranks_per_node = 2")
ok "a job in cache mode, 30 steps" run 4 "$TR" -c "$CONF" -n 30 -k 10
w30=$(grep -o 'step 30 .*w-hash [0-9a-f]*' "$T/last.log" | grep -o '[0-9a-f]*$')
FCONF="$T/flush.conf"
{ cat "$CONF"; echo "storage_url = $URL"; } >"$FCONF"

# Bad usage, each with its reason.
check "no storage_url: exit 2, says so" \
    test "$(status "$T/u1" "$FL" -c "$CONF" --node 0)" = 2
check "no storage_url: the message" grep -q "no storage_url" "$T/u1"
check "%n without --node: exit 2" test "$(status "$T/u2" "$FL" -c "$FCONF")" = 2
check "%n without --node: the message" grep -q "with --node" "$T/u2"
check "--node x: exit 2" test "$(status "$T/u3" "$FL" -c "$FCONF" --node x)" = 2
check "an unknown job: exit 1" \
    test "$(status "$T/u4" env CKPT_JOB=nosuch "$FL" -c "$FCONF" --node 0)" = 1
check "an unknown job: the message" grep -q "no job 'nosuch'" "$T/u4"

# Node 0 alone: its part is in storage, nothing is committed yet.
check "node 0: exit 3 (waiting for node 1)" \
    test "$(status "$T/n0" "$FL" -c "$FCONF" --node 0)" = 3
check "node 0: progress lines" grep -q "node 0: step 30: uploaded in" "$T/n0"
check "node 0: 1 of 2 parts" grep -q "1 of 2 nodes' parts" "$T/n0"
check "nothing committed yet" test -z "$(find "$T/store" -path '*manifest*' -type f)"

# A damaged rank file of node 1's own is refused, and nothing is committed.
d="$T/roots/r1/fjob/node-1/step-30"
f="$d/$(awk '$1 == "file" && $5 == "own" {print $2; exit}' "$d/MANIFEST")"
cp "$f" "$T/saved.h5"
printf 'X' | dd of="$f" bs=1 seek=3000 conv=notrunc status=none
check "damaged rank file: exit 1" \
    test "$(status "$T/d1" "$FL" -c "$FCONF" --node 1)" = 1
check "damaged rank file: named" grep -q "does not match its MANIFEST" "$T/d1"
check "damaged rank file: nothing committed" \
    test -z "$(find "$T/store" -path '*manifest*' -type f)"
cp "$T/saved.h5" "$f"

# Three runs at once: node 0 again (its part is there), node 1 twice.
"$FL" -c "$FCONF" --node 0 >"$T/c0" 2>&1 & a=$!
"$FL" -c "$FCONF" --node 1 >"$T/c1" 2>&1 & b=$!
"$FL" -c "$FCONF" --node 1 >"$T/c2" 2>&1 & c=$!
wait $a; ra=$?
wait $b; rb=$?
wait $c; rc=$?
echo "    runs at once exited $ra $rb $rc"
check "runs at once: each exits 0 or 3" \
    bash -c "for r in $ra $rb $rc; do [ \$r = 0 ] || [ \$r = 3 ] || exit 1; done"
check "runs at once: one says committed" bash -c "cat '$T'/c[012] | grep -q 'committed step 30: 2 nodes, 4 ranks'"
check "runs at once: step 30 committed" \
    test "$(status "$T/l1" "$LS" --storage "$URL" -j fjob --json)" = 0
check "ckpt-ls: step 30 in storage" grep -q '"in_storage": true' "$T/l1"
check "no parts left in storage" test -z "$(find "$T/store/fjob/flush" -type f 2>/dev/null)"
check "again: exit 0, in storage already" \
    test "$(status "$T/a1" "$FL" -c "$FCONF" --node 1)" = 0
check "again: says so" grep -q "is in storage already" "$T/a1"

# A damaged part (another job, 20 steps): node 1's flush refuses to commit
# and names node 0; node 0's flush writes its part again and commits.
G=$(CACHE="$T/groots/r%n" conf gjob "ranks_per_node = 2")
ok "a second job in cache mode, 20 steps" run 4 "$TR" -c "$G" -n 20 -k 10
GF="$T/gflush.conf"
{ cat "$G"; echo "storage_url = $URL"; } >"$GF"
check "gjob node 0: exit 3" test "$(status "$T/g0" "$FL" -c "$GF" --node 0)" = 3
p0=$(find "$T/store/gjob/flush" -name node-0 -type f)
sed -i 's/^range 1 /range 2 /' "$p0"
check "damaged part: exit 1" test "$(status "$T/p1" "$FL" -c "$GF" --node 1)" = 1
check "damaged part: says which node" grep -q "part of node 0 .* damaged" "$T/p1"
check "damaged part: nothing committed" \
    test -z "$(find "$T/store/gjob" -path '*manifest*' -type f)"
# A well-formed part in the wrong place: node 1's part planted as node 0's.
p1=$(find "$T/store/gjob/flush" -name node-1 -type f)
cp "$p1" "$p0"
check "planted part: exit 1" test "$(status "$T/p3" "$FL" -c "$GF" --node 1)" = 1
check "planted part: says which node" grep -q "part of node 0 .* damaged" "$T/p3"
check "node 0 again: mends its part and commits (exit 0)" \
    test "$(status "$T/p2" "$FL" -c "$GF" --node 0)" = 0
check "node 0 again: uploaded anew, committed" \
    grep -q "committed step 20: 2 nodes, 4 ranks" "$T/p2"
check "gjob: no parts left" test -z "$(find "$T/store/gjob/flush" -type f 2>/dev/null)"

# Every cache lost: the job resumes from storage, bit-identical.
rm -rf "$T/roots"
WCONF="$T/wb.conf"
{ cat "$CONF"; echo "storage_url = $URL"; echo "mode = writeback"; } >"$WCONF"
ok "all caches lost: the job resumes from storage" run 4 "$TR" -c "$WCONF" -n 40 -k 10
check "resumed from step 30" grep -q "resumed from step 30 " "$T/last.log"
check "resumed weights are step 30's ($w30)" \
    grep -q "resumed from step 30 .*w-hash $w30" "$T/last.log"
got=$(grep -o 'done: .*weights hash [0-9a-f]*' "$T/last.log" | grep -o '[0-9a-f]*$')
check "bit-identical to the reference ($want, $got)" test -n "$want" -a "$want" = "$got"

# That run committed step 40 itself: a flush after it does nothing.
check "after a committing program: exit 0" \
    test "$(status "$T/a2" "$FL" -c "$WCONF" --node 0)" = 0
check "after a committing program: in storage already" \
    grep -q "step 40 is in storage already" "$T/a2"

# --step: an older step than storage's is nothing to do; one the cache
# lacks fails; a malformed one is bad usage.
check "--step 30 (older than storage's 40): exit 0" \
    test "$(status "$T/s1" "$FL" -c "$WCONF" --node 0 --step 30)" = 0
check "--step 30: says so" grep -q "older than the newest save in storage" "$T/s1"
check "--step 99 (not in the cache): exit 1" \
    test "$(status "$T/s2" "$FL" -c "$WCONF" --node 0 --step 99)" = 1
for bad in -1 abc "" 4294967296x; do
    check "--step '$bad': exit 2" test "$(status "$T/s3" "$FL" -c "$WCONF" --node 0 --step "$bad")" = 2
done
check "--node 4294967296: exit 2" \
    test "$(status "$T/s4" "$FL" -c "$WCONF" --node 4294967296)" = 2
{ cat "$WCONF"; echo "bogus = 1"; } >"$T/bad.conf"
check "an unknown key: exit 2" test "$(status "$T/s5" "$FL" -c "$T/bad.conf" --node 0)" = 2
check "an unknown key: named" grep -q "unknown key 'bogus'" "$T/s5"

# Storage that does not answer: exit 1 with the reason, the key unprinted.
KEY=U0VOVElORUwtS0VZLWZvci1mbHVzaA==
{ grep -v '^storage_url\|^mode' "$WCONF"; echo "storage_url = http://127.0.0.1:1/devstoreaccount1/ckpt"
  echo "storage_timeout = 2"; echo "storage_account = devstoreaccount1"; } >"$T/down.conf"
check "storage down: exit 1" \
    test "$(status "$T/s6" env AZURE_STORAGE_KEY="$KEY" "$FL" -c "$T/down.conf" --node 0)" = 1
check "storage down: says why" grep -q "storage" "$T/s6"
check "no key printed, in any run's output" bash -c "! grep -rqF '$KEY' '$T'/[acdgnps][0-9]"

# A third job: keep_remote applied by the flush, then a newer save of an
# older step in the cache (the job started over), which a flush refuses.
H=$(CACHE="$T/hroots/r%n" conf hjob "ranks_per_node = 2")
HF="$T/hflush.conf"
{ cat "$H"; echo "storage_url = $URL"; echo "keep_remote = 1"; } >"$HF"
ok "hjob: 20 steps in cache mode" run 4 "$TR" -c "$H" -n 20 -k 10
"$FL" -c "$HF" --node 0 >"$T/h0" 2>&1
check "hjob: step 20 committed" test "$(status "$T/h1" "$FL" -c "$HF" --node 1)" = 0
ok "hjob: on to 30 steps" run 4 "$TR" -c "$H" -n 30 -k 10
"$FL" -c "$HF" --node 1 >"$T/h2" 2>&1
check "hjob: step 30 committed" test "$(status "$T/h3" "$FL" -c "$HF" --node 0)" = 0
"$LS" --storage "$URL" -j hjob >"$T/h4" 2>&1
check "hjob: keep_remote = 1 left step 30 alone in storage" \
    bash -c "grep -qE '^ +30 ' '$T/h4' && ! grep -qE '^ +20 ' '$T/h4'"
rm -rf "$T/hroots"
ok "hjob: started over, 10 steps" run 4 "$TR" -c "$H" -n 10 -k 10
check "a newer save than storage's newest: exit 1" \
    test "$(status "$T/h5" "$FL" -c "$HF" --node 0)" = 1
check "a newer save than storage's newest: says so" grep -q "holds a newer save" "$T/h5"
"$LS" --storage "$URL" -j hjob >"$T/h6" 2>&1
check "hjob: storage unchanged (step 30 only)" \
    bash -c "grep -qE '^ +30 ' '$T/h6' && ! grep -qE '^ +10 ' '$T/h6'"
finish
