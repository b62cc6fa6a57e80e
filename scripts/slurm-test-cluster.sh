#!/bin/sh
# A single-node Slurm for the test suite: `start` installs Debian's slurmd, slurmctld,
# slurm-client and munge when missing, writes a minimal slurm.conf in its own directory and
# starts munged, slurmctld and slurmd; `stop` stops what `start` started. Needs root and apt;
# without them it says so and exits 3, and the Slurm tests then say they did not run.
#
# Usage: scripts/slurm-test-cluster.sh start|stop [DIR]   (DIR default: /tmp/inas-slurm)
# After `start`, point Slurm's commands at the cluster with SLURM_CONF=DIR/slurm.conf.
set -eu

cmd=${1:-}
dir=${2:-/tmp/inas-slurm}
conf="$dir/slurm.conf"

say() { echo "slurm-test-cluster: $*" >&2; }

stop() {
    for p in slurmd slurmctld munged; do
        if [ -f "$dir/$p.started" ] && [ -f "$dir/$p.pid" ]; then
            pid=$(cat "$dir/$p.pid")
            kill "$pid" 2>/dev/null || true
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/$p.started"
        fi
    done
}

case "$cmd" in
stop)
    stop
    exit 0
    ;;
start) ;;
*)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac

if [ "$(id -u)" != 0 ]; then
    say "not root: cannot install or start Slurm here"
    exit 3
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    if ! command -v apt-get >/dev/null; then
        say "no apt-get: cannot install Slurm here"
        exit 3
    fi
    say "installing slurmd slurmctld slurm-client munge"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        slurmd slurmctld slurm-client munge >"$dir.apt.log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update >>"$dir.apt.log" 2>&1 || true
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            slurmd slurmctld slurm-client munge >>"$dir.apt.log" 2>&1; then
            say "apt-get could not install Slurm (see $dir.apt.log)"
            exit 3
        fi
    fi
fi

mkdir -p "$dir/spool/ctld" "$dir/spool/d" "$dir/log"
stop

# munge: the key the package made (or a new one), its socket directory owned by munge.
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- munged --pid-file=/run/munge/inas-test.pid
    cp /run/munge/inas-test.pid "$dir/munged.pid"
    touch "$dir/munged.started"
fi

host=$(hostname -s)
cpus=$(nproc)
cat >"$conf" <<EOF
ClusterName=inas-test
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MinJobAge=600
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF="$conf"
slurmctld -f "$conf" -i
touch "$dir/slurmctld.started"
slurmd -f "$conf"
touch "$dir/slurmd.started"
i=0
until sinfo -h -o %t 2>/dev/null | grep -qx idle; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        say "the node did not come up (see $dir/log)"
        stop
        exit 3
    fi
    sleep 0.2
done
say "up: SLURM_CONF=$conf ($cpus CPUs on $host)"
