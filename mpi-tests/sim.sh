#!/bin/bash
# ckpt-sim's rate limits: a limit never admits more than its rate (plus a
# tenth of a second of burst), is never idle while requests wait for it, and
# serves waiting requests in order; hash-prefixed names spread a step over
# partitions where sequential names queue it on one. Small clusters with low
# limits, so each bound is known in advance.
. "$(dirname "$0")/common.sh"
SIM="$top_builddir/ckpt-sim"

sim() { # sim NAME OPTIONS...: runs ckpt-sim --json into $T/NAME.json
    local name=$1
    shift
    ok "ckpt-sim $name" bash -c '"$0" "$@" --json >"'"$T/$name"'.json"' "$SIM" "$@"
}

val() { # val NAME MODE EXPR: EXPR over the mode's JSON fields (requests: all)
    python3 -c "import json,sys
m = [x for x in json.load(open('$T/$1.json'))['modes'] if x['mode'] == '$2'][0]
m['requests'] = sum(v for k, v in m.items() if k.startswith('req_'))
v = eval(sys.argv[1], {}, m)
if v is False:
    print('    ' + sys.argv[1] + ' is false with', m, file=sys.stderr)
print(v)" "$3"
}

is() { # is DESCRIPTION NAME MODE EXPR: EXPR must be true
    check "$1" test "$(val "$2" "$3" "$4")" = True
}

# 100 nodes x 64 blocks + a block list each: 6,500 objects' requests (6,501
# with the manifest), 800 in flight, one partition serving 100 per second.
ONE="--nodes 100 --ranks-per-node 1 --bytes-per-node 67108864
     --block-size 1048576 --checkpoints 1 --persist-every 1
     --account-rps 1e9 --blob-rps 1e9 --partition-rps 100"
sim sequential $ONE --naming sequential
for m in direct writeback; do
    is "$m, one partition: never more than 100/s + a burst of 10" \
        sequential $m "peak_partition_rps <= 110"
    is "$m, one partition: the step takes requests / rate, not less" \
        sequential $m "to_storage_s >= (requests - 10) / 100"
    is "$m, one partition: and not more (the limit is never idle)" \
        sequential $m "to_storage_s <= 1.05 * requests / 100"
    is "$m, one partition: every request past the burst was refused" \
        sequential $m "throttled >= requests - 10"
    is "$m, one partition: in order, no request waits longer than the queue" \
        sequential $m "7 <= max_wait_s <= 800 / 100 + 1"
done
is "direct: the program waits for the whole queue" \
    sequential direct "stall_s >= 64"
is "writeback: the program does not" sequential writeback "stall_s < 1"

sim prefix $ONE --naming prefix
is "hash prefixes: no partition above its limit" \
    prefix writeback "peak_partition_rps <= 110"
is "hash prefixes: the step reaches storage 5x sooner than on one partition" \
    prefix writeback "to_storage_s * 5 < $(val sequential writeback to_storage_s)"

sim account --nodes 20 --ranks-per-node 1 --bytes-per-node 67108864 \
    --block-size 1048576 --checkpoints 1 --account-rps 50 --partition-rps 1e9
is "an account's limit binds like a partition's" \
    account writeback "(requests - 5) / 50 <= to_storage_s <= 1.05 * requests / 50"

sim blob --nodes 1 --ranks-per-node 1 --bytes-per-node 67108864 \
    --block-size 1048576 --checkpoints 1 --blob-rps 5
is "a blob's limit binds: one node's 65 requests at 5/s" \
    blob writeback "64 / 5 <= to_storage_s <= 1.05 * 66 / 5"

sim free $ONE --naming sequential --partition-rps 1e9
is "without limits nothing is throttled" free writeback "throttled == 0"
finish
