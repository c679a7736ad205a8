#!/bin/bash
# A full and a read-only cache: a clear error, the same on every rank, and
# the previous step still restores.
. "$(dirname "$0")/common.sh"
P="$top_builddir/mpi-tests/t_pattern"
M="$T/mnt"
mkdir -p "$M"
M2="$T/cache2/partnerfull/node-1"
mkdir -p "$M2"
cleanup() { umount "$M" 2>/dev/null; umount "$M2" 2>/dev/null; }
trap cleanup EXIT

if ! mount -t tmpfs -o size=16m tmpfs "$M"; then
    echo "faults.sh: cannot mount a tmpfs (needs root): failing, not skipping"
    exit 1
fi
CONF=$(CACHE="$M" conf full "ranks_per_node = 2")
ok "full cache: small step saved" run 4 "$P" "$CONF" save 1 1 100000
ok "full cache: ENOSPC everywhere" run 4 "$P" "$CONF" expect-save 2 8000000 ENOSPC
ok "full cache: previous step restores" run 4 "$P" "$CONF" check 100000 1
check "full cache: nothing of the failed step is left" \
    [ -z "$(find "$M" -path '*step-2*')" ]

mount -o remount,ro "$M"
ok "read-only cache: EIO everywhere" run 4 "$P" "$CONF" expect-save 2 100000 EIO
ok "read-only cache: previous step restores" run 4 "$P" "$CONF" check 100000 1
mount -o remount,rw "$M"

# Only node 1's disk is full: the error names the file, its node and the
# cause on every rank, not merely that a peer failed.
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$M2" || exit 1
CONF3=$(CACHE="$T/cache2" conf partnerfull "ranks_per_node = 2")
ok "partner disk full: small step saved" run 4 "$P" "$CONF3" save 1 1 100000
ok "partner disk full: ENOSPC everywhere" run 4 "$P" "$CONF3" expect-save 2 3000000 ENOSPC
check "partner disk full: the message names node 1's file and the cause" \
    grep -qE "save failed as expected: .*/node-1/step-2/rank-[0-9]+\.h5.*No space left on device" "$T/last.log"
ok "partner disk full: previous step restores" run 4 "$P" "$CONF3" check 100000 1

CONF2=$(CACHE="$M/ckpt" conf missing "ranks_per_node = 2")
ok "cache directory created on first save" run 4 "$P" "$CONF2" save 1 1 1000
check "cache files are mode 0600" \
    [ -z "$(find "$M/ckpt" -type f ! -perm 0600)" ]
check "cache directories are mode 0700" \
    [ -z "$(find "$M/ckpt" -mindepth 1 -type d ! -perm 0700)" ]
finish
