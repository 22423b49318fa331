#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm.py and `make slurm`.
#
#   scripts/slurm/one-node.sh start STATE_DIR   # munged, slurmctld, slurmd; prints env lines
#   scripts/slurm/one-node.sh stop STATE_DIR    # stops the three daemons started there
#
# Everything (munge key and socket, slurm.conf, spool, state, logs, pid files) lives in
# STATE_DIR, so nothing system-wide is touched besides the Debian packages; clients find the
# cluster through SLURM_CONF=STATE_DIR/slurm.conf (printed by `start`). Needs root (slurmd
# runs jobs as their user, munged as `munge`) and Debian's `slurm-wlm` and `munge`.
# No cgroups: processes are tracked through /proc (proctrack/linuxproc) and tasks are not
# bound (task/none), so it runs in a container. A second partition, `tiny` (1-minute
# MaxTime, limits enforced at submission), lets tests see SLURM refuse a job.
set -euo pipefail

command=${1:-}; state=${2:-}
if [ -z "$command" ] || [ -z "$state" ]; then
  echo "usage: $0 start|stop STATE_DIR" >&2; exit 2
fi
state=$(realpath -m "$state")

stop() {
  # In reverse order; each daemon by the pid it wrote, never by name.
  for name in slurmd slurmctld munged; do
    pidfile="$state/$name.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  [ "$(id -u)" -eq 0 ] || { echo "SLURM one-node cluster needs root (jobs run as root here)" >&2; exit 3; }
  for tool in munged mungekey slurmctld slurmd sinfo runuser; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install slurm-wlm munge" >&2; exit 3; }
  done
  mkdir -p "$state"/{munge,socket,ctld,spool,log}
  chmod 755 "$state"
  # munged checks these: its own files private, its socket's folder open to every client.
  chown munge:munge "$state/munge" "$state/socket"
  chmod 700 "$state/munge"; chmod 755 "$state/socket"

  # munge: its own key, socket and files, run as the munge user (it refuses root).
  runuser -u munge -- mungekey --create --keyfile="$state/munge/munge.key" --force
  runuser -u munge -- munged --socket="$state/socket/munge.socket" \
    --key-file="$state/munge/munge.key" --pid-file="$state/munge/munged.pid" \
    --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed"
  cp "$state/munge/munged.pid" "$state/munged.pid"

  node=$(hostname -s)
  cpus=$(nproc)
  # What the node offers jobs: its memory less 1 GiB for the daemons and the submitting side.
  memory=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
  ctld_port=$(free_port); slurmd_port=$(free_port)
  cat > "$state/slurm.conf" <<CONF
ClusterName=grader-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/socket/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
EnforcePartLimits=ALL
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=tiny Nodes=ALL MaxTime=1 State=UP
CONF
  export SLURM_CONF="$state/slurm.conf"
  slurmctld -i -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  # Up when the node is idle (sinfo asks slurmctld, which heard from slurmd).
  for _ in $(seq 100); do
    if [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = "idle" ]; then
      echo "SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.2
  done
  echo "the node did not become idle; logs in $state/log" >&2
  sinfo >&2 || true
  stop
  exit 1
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop STATE_DIR" >&2; exit 2 ;;
esac
