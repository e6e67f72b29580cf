#!/usr/bin/env bash
# Copied from ../shared/recipes/slurm-single-node.sh (checked recipe); used by scripts/test_slurm.sh.
# A real single-node Slurm cluster (munged + slurmctld + slurmd) on this kind of machine, as root,
# without systemd — for tests of vpipe's array jobs. Checked with Debian 12's Slurm 22.05.8 and
# munge 0.5.15 on a 2-core machine: install ~10 s, start-up < 1 s, a 4-task array finishes in ~1-4 s.
#
#   apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
#   slurm-single-node.sh up      # writes slurm.conf, starts the daemons, waits until the node is idle
#   sbatch --array=1-3 job.sbatch; squeue -h -j JOBID   # poll until empty (faster than sbatch --wait)
#   slurm-single-node.sh down    # stops the daemons by PID: slurmd, slurmctld, munged
#
# Facts seen on this machine (use them in tests):
# - Every array task gets SLURM_ARRAY_TASK_ID, _COUNT, _MIN, _MAX, _STEP and SLURM_ARRAY_JOB_ID.
#   --array=0-3 → ids 0..3, COUNT 4, MIN 0, MAX 3.  --array=1-4 → ids 1..4, COUNT 4, MIN 1, MAX 4.
#   --array=0-7:2 → ids 0,2,4,6, COUNT 4, STEP 2.  --array=1,3,10 → COUNT 3, MIN 1, MAX 10, STEP 1.
#   "%2" (a concurrency limit) shows in no variable. SLURM_JOB_ID differs per task.
# - SLURM_CPUS_PER_TASK is set only with -c; without it SLURM_CPUS_ON_NODE=1.
# - scancel JOB_TASK → CANCELLED (ExitCode 0:15); `scontrol requeue JOB_TASK` runs it again
#   (SLURM_RESTART_COUNT=1) but only after ~120 s unless `scontrol update JobId=JOB_TASK StartTime=now`.
#   Requeue on a running task kills it and queues it again. Output files are overwritten on requeue
#   unless --open-mode=append.
# - sbatch --wait returns the highest exit code among the tasks; per-task state is in
#   `squeue --states=all -r -j ID` for MinJobAge (300 s) — no sacct (no accounting).
# - State under $SLURM_STATE persists: `down`, then `rm -rf $SLURM_STATE` for a clean cluster.
#   `up` is not idempotent: run `down` first.
# - slurmd logs a harmless "can not load PMIx library".
set -euo pipefail
T=${SLURM_STATE:-/tmp/vpipe-slurm}
H=$(hostname -s)

up() {
  mkdir -p "$T/state/ctld" "$T/state/d" "$T/log"
  mkdir -p /etc/slurm
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=vpipetest
SlurmctldHost=$H
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$T/state/ctld
SlurmdSpoolDir=$T/state/d
SlurmctldPidFile=$T/state/slurmctld.pid
SlurmdPidFile=$T/state/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
NodeName=$H CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged              # forks; pid in /run/munge/munged.pid
  for _ in $(seq 50); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n </dev/null | unmunge >/dev/null           # fail loudly if munge is not working
  /usr/sbin/slurmctld                                # both fork and write the pid files above
  /usr/sbin/slurmd
  for _ in $(seq 100); do sinfo -h -o '%T' 2>/dev/null | grep -qx idle && return 0; sleep 0.2; done
  echo "slurm node did not become idle; see $T/log" >&2; return 1
}

stop_pid() {  # $1 = pid file
  [ -s "$1" ] || return 0
  local p; p=$(cat "$1")
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}

down() {
  stop_pid "$T/state/slurmd.pid"
  stop_pid "$T/state/slurmctld.pid"
  stop_pid /run/munge/munged.pid
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
