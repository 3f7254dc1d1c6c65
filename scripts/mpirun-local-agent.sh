#!/bin/sh
# A launch agent for `mpirun --mca plm_rsh_agent`: runs the remote command of a
# simulated host on this machine. Open MPI calls it as ssh would,
#   AGENT [ssh options] HOST COMMAND...
# so it drops ssh's options, takes HOST (e.g. 127.0.0.2), exports it as
# SHARDTRAIN_SIMULATED_HOST (and NCCL_HOSTID, so NCCL also sees separate hosts),
# gives it its own Open MPI session directory and runs COMMAND with /bin/sh.
# Used by tests/mpi/multinode_mpirun.sh, i.e.:
#   mpirun --mca plm_rsh_agent scripts/mpirun-local-agent.sh \
#     --host 127.0.0.2:1,127.0.0.3:1 --mca btl self,tcp \
#     --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -np 2 APP
while case "${1-}" in
  -x | -X | -q | -T | -t | -n | -A | -a | -C | -N | -f | -v) shift ;;
  -o | -p | -l | -i | -F | -E | -J | -S | -b | -c | -m | -e) shift 2 ;;
  -o* | -p* | -l* | -i*) shift ;;
  *) false ;;
esac; do :; done
host=${1:?usage: mpirun-local-agent.sh [ssh options] HOST COMMAND...}
shift
SHARDTRAIN_SIMULATED_HOST=$host NCCL_HOSTID=$host
# Every simulated host has this machine's host name, so their Open MPI session
# directories (<tmpdir>/ompi.<hostname>.<uid>/...) would collide and the daemons
# race creating them: give each host its own.
OMPI_MCA_orte_tmpdir_base=${TMPDIR:-/tmp}/shardtrain-simulated-host-$host
mkdir -p "$OMPI_MCA_orte_tmpdir_base"
export SHARDTRAIN_SIMULATED_HOST NCCL_HOSTID OMPI_MCA_orte_tmpdir_base
exec /bin/sh -c "$*"
