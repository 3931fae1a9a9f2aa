#!/usr/bin/env bash
# Starts a single-node Slurm on this machine (one node, this host, all its CPUs), so that
# test_cli_shards can run examples/slurm_campaign.sbatch. Debian 12, as root, no systemd needed:
#   apt-get install -y slurm-wlm munge   (the munge package makes /etc/munge/munge.key)
#   tests/support/start_local_slurm.sh   (writes /etc/slurm/slurm.conf unless one exists, starts
#                                          munged, slurmctld and slurmd when they are not running)
#   sinfo                                 (the partition "debug" is up, the node idle)
# Stop them with: kill $(cat /run/slurmd.pid /run/slurmctld.pid) $(cat /run/munge/munged.pid)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }
for tool in munged slurmctld slurmd sinfo; do
  command -v "$tool" > /dev/null || { echo "$0: $tool is missing: apt-get install -y slurm-wlm munge" >&2; exit 1; }
done
host=$(hostname -s)
if [ ! -e /etc/slurm/slurm.conf ]; then
  cat > /etc/slurm/slurm.conf <<CONF
# Single-node Slurm written by tests/support/start_local_slurm.sh.
ClusterName=local
SlurmctldHost=$host
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
fi
mkdir -p /run/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown munge:munge /run/munge
pgrep -x munged > /dev/null || su -s /bin/sh munge -c /usr/sbin/munged
pgrep -x slurmctld > /dev/null || /usr/sbin/slurmctld
pgrep -x slurmd > /dev/null || /usr/sbin/slurmd
for _ in $(seq 30); do
  sinfo -h -o %a 2>/dev/null | grep -q up && { sinfo; exit 0; }
  sleep 1
done
echo "$0: Slurm did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
exit 1
