#!/bin/bash
# The Python package (python/ckpt) under mpirun with Debian's interpreter,
# mpi4py, numpy and PyTorch: round trips of every dtype, node loss and the
# refill, a damaged file, a failed restore that leaves the arrays untouched,
# argument and error behaviour, the GIL released, model and optimizer state
# through ckpt.torch, mismatches, and examples/train.py killed midway, one
# node's cache deleted, restarted, ending bit-identical to a run that was
# not interrupted.
. "$(dirname "$0")/common.sh"
PYTHON=${PYTHON:-/usr/bin/python3}
export PYTHONPATH="$top_builddir/python/pkg${PYTHONPATH:+:$PYTHONPATH}"
PY=("$PYTHON")
# The sanitizer build's extension needs the ASan runtime loaded first, and
# libstdc++ with it (else ASan cannot find the real __cxa_throw when
# torch's gloo threads throw); the interpreter's own allocations are not
# ours to check for leaks.
if ldd "$top_builddir/python/pkg/ckpt/_ckpt.so" | grep -q libasan; then
    PY=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so.6)"
        "ASAN_OPTIONS=detect_leaks=0" "$PYTHON")
fi
P="$top_srcdir/mpi-tests/t_python.py"
C="$T/cache"

check "Debian's interpreter has mpi4py, numpy and torch" \
    "${PY[@]}" -c "import mpi4py, numpy, torch"
check "the package imports from the build tree" "${PY[@]}" -c "import ckpt, ckpt.torch"

cfg=$(conf t "ranks_per_node = 2")
pyrun() { # pyrun NP CONFIG MODE ARGS...
    local np=$1
    shift
    run "$np" "${PY[@]}" -m mpi4py "$P" "$@"
}
passed() { grep -q "t_python: [0-9]* passed, 0 failed" "$T/last.log"; }

ok "every dtype saved (4 ranks, 2 nodes)" pyrun 4 "$cfg" save 3
ok "every dtype restored exactly" pyrun 4 "$cfg" check 3 2
rm -rf "$C/t/node-1"
ok "node 1 lost: restored exactly, PARTNER again after the refill" \
    pyrun 4 "$cfg" check 3 2
check "node 1 lost: the copies came back" test -f "$C/t/node-1/step-3/rank-2.h5"
printf '\xff\xff\xff\xff' | dd of="$C/t/node-0/step-3/rank-1.h5" bs=1 seek=4000 \
    conv=notrunc status=none
ok "rank 1's own file damaged: restored exactly from the copy" pyrun 4 "$cfg" check 3 1

rm -rf "$C"
ok "saved again" pyrun 4 "$cfg" save 1
for n in 0 1; do
    printf '\xff\xff\xff\xff' | dd of="$C/t/node-$n/step-1/rank-2.h5" bs=1 \
        seek=4000 conv=notrunc status=none
done
first=$(conf t "ranks_per_node = 2" "restore_check = first")
ok "both copies of rank 2 damaged: None and ENOENT, arrays untouched" \
    pyrun 4 "$first" untouched

rm -rf "$C"
ok "arguments and errors: TypeError, ValueError, ckpt.Error with agreed messages" \
    pyrun 4 "$cfg" api
rm -rf "$C"
ok "save and restore release the GIL" pyrun 2 "$cfg" gil
rm -rf "$C"
ok "ckpt.torch: model and Adam state saved" pyrun 4 "$cfg" torch-save 2
ok "ckpt.torch: restored into a fresh model and optimizer, exactly" \
    pyrun 4 "$cfg" torch-check 2
check "ckpt.torch: its checks ran" passed
ok "ckpt.torch: a protected fresh optimizer trains as an unprotected one" \
    pyrun 2 "$cfg" torch-same
rm -rf "$C"
ok "ckpt.torch: one rank's failure raises on every rank, nothing hangs" \
    pyrun 4 "$cfg" torch-agree
rm -rf "$C"
ok "mismatched regions: ckpt.EMISMATCH" pyrun 2 "$cfg" mismatch
# A root per emulated node (%n): restorable by another number of ranks.
shp=$(CACHE="$T/roots/r%n" conf shapes "ranks_per_node = 2")
ok "global and replicated regions saved by 4 ranks" pyrun 4 "$shp" shapes-save 5
ok "... restored exactly by 2 ranks" pyrun 2 "$shp" shapes-check 5
ok "... and by 6 ranks" pyrun 6 "$shp" shapes-check 5

# examples/train.py: data-parallel PyTorch (gloo), a checkpoint every 4
# steps; killed after step 10, node 1's cache deleted, restarted at 8.
TR="$top_srcdir/examples/train.py"
refcfg=$(conf ref "ranks_per_node = 2")
trcfg=$(conf train "ranks_per_node = 2")
ok "train.py: the run that is not interrupted" \
    run 4 "${PY[@]}" -m mpi4py "$TR" --config "$refcfg" --steps 20 --every 4 --out "$T/ref.pt"
run 4 "${PY[@]}" -m mpi4py "$TR" --config "$trcfg" --steps 20 --every 4 --out "$T/run.pt" \
    --die-after 10 >"$T/killed.log" 2>&1
check "train.py: killed after step 10" grep -q "dying after step 10" "$T/killed.log"
check "train.py: nothing written at the kill" test ! -e "$T/run.pt"
wait_gone train.py
rm -rf "$C/train/node-1"
ok "train.py: restarted without node 1's cache" \
    run 4 "${PY[@]}" -m mpi4py "$TR" --config "$trcfg" --steps 20 --every 4 --out "$T/run.pt"
check "train.py: resumed from step 8" grep -q "resumed from step 8" "$T/last.log"
check "train.py: bit-identical to the uninterrupted run" cmp "$T/ref.pt" "$T/run.pt"
finish
