#!/usr/bin/env bash
# mpirun over simulated hosts on this one machine: `multinode_mpirun.sh -np N
# [mpirun flags] APP [ARGS]` runs rank r alone on "host" 127.0.0.(r+2), each
# host's daemon started by scripts/mpirun-local-agent.sh instead of ssh. So
# every rank has OMPI_COMM_WORLD_LOCAL_SIZE=1, the ranks talk over TCP on
# loopback (no shared memory: the shared-window allreduce falls back to MPI),
# and traffic stays on this machine. Each MPI message then costs about 8 ms:
# use it for correctness, not speed. Sets SHARDTRAIN_MPI_TEST_ONE_RANK_PER_NODE=1
# for the tests' topology checks.
set -eu
[ "${1-}" = -np ] && [ "${2-}" -ge 1 ] 2>/dev/null ||
  { echo "usage: multinode_mpirun.sh -np N [mpirun flags] APP [ARGS]" >&2; exit 2; }
ranks=$2
shift 2
hosts=""
for ((r = 0; r < ranks; r++)); do hosts+="${hosts:+,}127.0.0.$((r + 2)):1"; done
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# PMIx's shared-memory store assumes one daemon per machine and prints errors
# when several share it; the hash store has no such assumption.
export PMIX_MCA_gds=hash SHARDTRAIN_MPI_TEST_ONE_RANK_PER_NODE=1
exec mpirun -np "$ranks" --host "$hosts" --mca plm_rsh_agent "$root/scripts/mpirun-local-agent.sh" \
  --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo \
  -x PMIX_MCA_gds -x SHARDTRAIN_MPI_TEST_ONE_RANK_PER_NODE "$@"
