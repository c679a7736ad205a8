#!/bin/bash
# Slurm for real: munged, slurmctld and slurmd (Debian's slurm-wlm) started
# by this script as a one-node cluster in its own directory, stopped at the
# end. Batch jobs run examples/trainer with mpirun inside the allocation:
#  - an uninterrupted job: the reference weights;
#  - a job whose batch shell gets SIGUSR1 mid-run (what --signal=B:USR1@T
#    sends), passed to mpirun and forwarded to the ranks: ckpt_need_save says SIGNAL on every rank, the step is
#    saved, the trainer exits 3, the batch script requeues the job, and the
#    requeued run (same job id, so the default job name "slurm-<id>" finds
#    its checkpoints) resumes from that step and ends bit-identical;
#  - the same with the requeue held while the emulated hosts' roots are
#    rotated (a requeue that lands on another host order), then released;
#  - a job in cache mode whose batch script ends with ckpt-flush run by
#    srun once per node: its last step is committed to file:// storage.
# If Slurm cannot start, the test fails and says why.
. "$(dirname "$0")/common.sh"
TRAINER="$top_builddir/examples/trainer"
S="$T/slurm"
# munged wants its socket's directory searchable by everyone
mkdir -p "$S/state" "$S/spool" "$S/log" && chmod 755 "$S"

for c in munged munge slurmctld slurmd sbatch scontrol squeue scancel sinfo; do
    if ! command -v "$c" >/dev/null; then
        check "slurm: $c is installed (apt-get install slurm-wlm munge)" false
        finish
        exit 1
    fi
done

host=$(hostname -s)
read -r P1 P2 < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 status=none
chmod 400 "$S/munge.key"
cat >"$S/slurm.conf" <<EOF
ClusterName=ckpttest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge.sock,cred_expire=10
CredType=cred/munge
SlurmctldPort=$P1
SlurmdPort=$P2
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
KillWait=5
NodeName=$host CPUs=8 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
export SLURM_CONF="$S/slurm.conf"

stop_cluster() {
    local f
    for f in slurmd slurmctld munged; do
        [ -f "$S/$f.pid" ] && kill "$(cat "$S/$f.pid")" 2>/dev/null
    done
    pkill -f "$S/slurm.conf" 2>/dev/null
    pkill -f "$S/munge.sock" 2>/dev/null
    sleep 1
}
trap stop_cluster EXIT

munged --key-file="$S/munge.key" --socket="$S/munge.sock" --pid-file="$S/munged.pid" \
    --log-file="$S/log/munged.log" --seed-file="$S/munge.seed" >"$S/log/start.log" 2>&1
slurmctld -f "$SLURM_CONF" -i >>"$S/log/start.log" 2>&1
slurmd -f "$SLURM_CONF" >>"$S/log/start.log" 2>&1
up=0
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && { up=1; break; }
    sleep 0.5
done
if [ $up -eq 0 ]; then
    check "slurm: the cluster starts (munged, slurmctld, slurmd)" false
    tail -n 5 "$S"/log/*.log | sed 's/^/    /'
    finish
    exit 1
fi
check "slurm: the cluster starts (munged, slurmctld, slurmd)" true

cat >"$T/train.sbatch" <<'EOF'
#!/bin/bash
#SBATCH --ntasks=4
#SBATCH --requeue
#SBATCH --open-mode=append
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "run ${SLURM_RESTART_COUNT:-0} of job $SLURM_JOB_ID"
# --signal=B:USR1@120 (here: scancel --batch --signal=USR1) reaches this
# shell: it passes USR1 to mpirun, which forwards it to the ranks.
mpirun --oversubscribe -np 4 "$TRAINER" -c "$CONF" -n 120 -k 10 --step-ms "${STEP_MS:-0}" &
pid=$!
trap 'kill -USR1 $pid' USR1 TERM
wait $pid
rc=$?
while [ $rc -gt 128 ] && kill -0 $pid 2>/dev/null; do
    wait $pid
    rc=$?
done
# The drain step of docs/SLURM.md: once per node, after the program.
if [ -n "${FLUSH:-}" ]; then
    srun -N "$SLURM_NNODES" --ntasks-per-node=1 --kill-on-bad-exit=0 "$FLUSH" -c "$CONF"
    echo "flush exit $?"
fi
# 3: the step was saved on a signal; the job is requeued and resumes.
if [ $rc -eq 3 ]; then
    scontrol "${REQUEUE:-requeue}" "$SLURM_JOB_ID"
fi
exit $rc
EOF
export TRAINER

job_done() { # job_done ID SECONDS: the job has left the queue (0) or not (1)
    local i
    for i in $(seq $((2 * $2))); do
        [ -z "$(squeue -h -j "$1" -o %T 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    return 1
}
wait_for() { # wait_for FILE PATTERN SECONDS
    local i
    for i in $(seq $((10 * $3))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# A requeued job may start again once its credential lifetime (cred_expire
# in AuthInfo above: 10 s here, 120 s by default) has passed since the old
# run's clean-up. A job that ends without its second run stops the wait.
start_again() { # start_again ID OUT SECONDS: the requeued run began (0) or not
    local i
    for i in $(seq $((2 * $3))); do
        grep -q "^run 1 of job" "$2" 2>/dev/null && return 0
        scontrol show job "$1" 2>/dev/null | grep -Eq \
            'JobState=(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|BOOT_FAIL|DEADLINE|OUT_OF_MEMORY|PREEMPTED)' &&
            break
        sleep 0.5
    done
    {
        echo "the requeued run of job $1 did not start: $(scontrol show job "$1" |
            grep -oE '(JobState|Reason|EligibleTime|StartTime|Restarts)=[^ ]*' | tr '\n' ' ')"
        tail -n 4 "$2"
        grep -E "JobId=$1( |$)|job $1" "$S/log/slurmctld.log" "$S/log/slurmd.log" | tail -n 8
    } | sed 's/^/    /' | tee -a "$T/why.txt"
    return 1
}
final_hash() { grep -o 'done: .*weights hash [0-9a-f]*' "$1" | tail -1 | grep -o '[0-9a-f]*$'; }

# The reference: one job, never interrupted. No "job" key: each job gets
# "slurm-<id>" by default, so it cannot collide with the others.
CONF=$(CACHE="$T/cache" conf ignored "ranks_per_node = 2")
sed -i '/^job = /d' "$CONF"
export CONF
ref=$(sbatch --parsable -o "$T/ref.out" "$T/train.sbatch")
job_done "$ref" 120
check "slurm: the reference job ran to the end" grep -q "trainer: done: 120 steps" "$T/ref.out"
want=$(final_hash "$T/ref.out")

# Signalled mid-run, saved, requeued by its batch script, resumed.
export STEP_MS=100
id=$(sbatch --parsable -o "$T/req.out" "$T/train.sbatch")
wait_for "$T/req.out" "step 20 " 60
t0=$(date +%s.%N)
scancel --batch --signal=USR1 "$id"
check "slurm: SIGUSR1: the step is saved and the trainer exits for a requeue" \
    wait_for "$T/req.out" "saved on a signal" 60
t1=$(date +%s.%N)
echo "    signal to the step saved and mpirun's output seen: $(echo "$t1 - $t0" | bc) s" \
     "(a training step is 0.1 s; polled every 0.1 s)"
pending=0
for _ in $(seq 120); do
    scontrol show job "$id" 2>/dev/null | grep -q "JobState=PENDING" && { pending=1; break; }
    sleep 0.5
done
check "slurm: the batch script requeued the job" test $pending -eq 1
check "slurm: the requeued run starts" start_again "$id" "$T/req.out" 180
check "slurm: the requeued run resumes from that step" \
    wait_for "$T/req.out" "resumed from step" 120
job_done "$id" 120
got=$(final_hash "$T/req.out")
check "slurm: requeued job bit-identical to the reference ($want, $got)" \
    test -n "$want" -a "$want" = "$got"
check "slurm: the job ran twice (Restarts=1)" \
    bash -c "scontrol show job $id | grep -q 'Restarts=1'"
check "slurm: its checkpoints are job slurm-$id's" test -d "$T/cache/slurm-$id"
check "slurm: the reference's are apart (slurm-$ref)" test -d "$T/cache/slurm-$ref"

# A requeue on another host order: held, the emulated hosts' roots rotated
# (each node's disk now holds another node's files), released.
CONF=$(CACHE="$T/roots/r%n" conf ignored "ranks_per_node = 2")
sed -i '/^job = /d' "$CONF"
export CONF REQUEUE=requeuehold
id=$(sbatch --parsable -o "$T/rot.out" "$T/train.sbatch")
wait_for "$T/rot.out" "step 30 " 60
scancel --batch --signal=USR1 "$id"
held=0
for _ in $(seq 120); do
    scontrol show job "$id" 2>/dev/null |
        grep -Eq "JobState=REQUEUE_HOLD|Reason=(JobHeld|job_requeued_in_held_state)" &&
        { held=1; break; }
    sleep 0.5
done
check "slurm: saved on the signal and held for its requeue" test $held -eq 1
mv "$T/roots/r0" "$T/roots/tmp" && mv "$T/roots/r1" "$T/roots/r0" &&
    mv "$T/roots/tmp" "$T/roots/r1"
scontrol release "$id"
check "slurm: rotated hosts: the requeued run starts" start_again "$id" "$T/rot.out" 180
job_done "$id" 120
check "slurm: rotated hosts: the requeued run resumes" grep -q "resumed from step" "$T/rot.out"
got=$(final_hash "$T/rot.out")
check "slurm: rotated hosts: bit-identical to the reference ($want, $got)" \
    test -n "$want" -a "$want" = "$got"

# The drain: cache mode during the job, ckpt-flush by srun after it.
mkdir -p "$T/store"
CONF=$(CACHE="$T/fcache" conf ignored "ranks_per_node = 2" "mode = cache" \
       "storage_url = file://$T/store")
sed -i '/^job = /d' "$CONF"
export CONF FLUSH="$top_builddir/ckpt-flush" STEP_MS=0 REQUEUE=requeue
id=$(sbatch --parsable -o "$T/flush.out" "$T/train.sbatch")
job_done "$id" 120
check "slurm: the cache-mode job ran to the end" grep -q "trainer: done: 120 steps" "$T/flush.out"
check "slurm: srun ckpt-flush committed its last step" \
    grep -q "committed step 120: 2 nodes, 4 ranks" "$T/flush.out"
check "slurm: ckpt-flush exit 0" grep -q "flush exit 0" "$T/flush.out"
"$top_builddir/ckpt-ls" --storage "file://$T/store" -j "slurm-$id" >"$T/fls.out" 2>&1
check "slurm: ckpt-ls sees step 120 in storage" grep -qE '^ +120 .*in storage' "$T/fls.out"
# Once more at the end, where a short excerpt of the log still shows it.
[ -f "$T/why.txt" ] && cat "$T/why.txt"
finish
