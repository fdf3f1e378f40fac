#!/usr/bin/env bash
# Starts a throw-away single-node Slurm for the jobs tests: slurm.conf in DIR (auth/none,
# proctrack/linuxproc, task/none, select/cons_tres, no cgroups, no accounting), slurmctld and
# slurmd in the foreground in the background, on the given ports. Prints
# "<slurmctld pid> <slurmd pid>" once the node is idle. Clients need SLURM_CONF=DIR/slurm.conf.
# Usage: tests/scripts/start_slurm.sh DIR CTLD_PORT SLURMD_PORT     (stop: kill both pids)
set -euo pipefail
dir=$1
ctld_port=$2
d_port=$3
for b in slurmctld slurmd sinfo sbatch; do
  command -v "$b" > /dev/null || { echo "start_slurm: $b not installed" >&2; exit 3; }
done
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
node=$(hostname -s)
cpus=$(nproc)
cat > "$dir/slurm.conf" <<CONF
ClusterName=qatwbtest
SlurmctldHost=$node
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
KillWait=5
MinJobAge=600
NodeName=$node CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -D -i > "$dir/log/slurmctld.out" 2>&1 < /dev/null &
ctld=$!
slurmd -D > "$dir/log/slurmd.out" 2>&1 < /dev/null &
d=$!
for _ in $(seq 1 150); do
  state=$(sinfo -h -n "$node" -o %t 2> /dev/null || true)
  case "$state" in
    idle*|mix*|alloc*) echo "$ctld $d"; exit 0 ;;
  esac
  if ! kill -0 "$ctld" 2> /dev/null || ! kill -0 "$d" 2> /dev/null; then break; fi
  sleep 0.2
done
echo "start_slurm: the node did not come up (state '${state:-}')" >&2
tail -n 20 "$dir/log/slurmctld.out" "$dir/log/slurmd.out" >&2 || true
kill "$ctld" "$d" 2> /dev/null || true
exit 1
