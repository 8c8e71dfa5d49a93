#!/bin/bash
# qbench comparison as a Slurm job array: one array task per shard.
#
# qbench takes the shard from Slurm itself: inside an array with SLURM_ARRAY_TASK_COUNT set,
# `qbench compare` runs shard (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1) of
# SLURM_ARRAY_TASK_COUNT, so no --shard flag is passed here. The task count is the array's size:
# `--array=0-2` below is 3 shards; `sbatch --array=0-4 ...` makes it 5.
#
# Build once per CPU architecture, on a node of the partition's architecture, and reuse that
# binary for every shard (all shards of one plan must run the same commit and build):
#   git clone ... /shared/qbench && cd /shared/qbench && cargo build --release
#   target/release/qbench backends      # provisions ONNX Runtime into ~/.cache/qbench (python3 + pip)
#
# Submit (RESULTS must be on a file system that every node and the merge job see):
#   export SCENARIO=resnet RESULTS=/shared/qbench-results/resnet-$(date +%Y%m%d-%H%M)
#   jobid=$(sbatch --parsable --chdir=/shared/qbench scripts/engines/slurm/qbench-array.sh)
#   sbatch --dependency=afterany:"${jobid%%;*}" --chdir=/shared/qbench \
#          scripts/engines/slurm/qbench-merge.sh
# (sbatch passes the submitting shell's environment, SCENARIO and RESULTS included, by default.)
#
# Latency shards must not share a machine (two shards on one node measure each other), hence
# --exclusive. A plan that measures accuracy only may drop --exclusive and share nodes.
#
# Linted with shellcheck by scripts/lint-engines; not run on a real Slurm cluster.
#SBATCH --job-name=qbench-compare
#SBATCH --array=0-2
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --exclusive
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --output=qbench-compare-%A_%a.out
#SBATCH --error=qbench-compare-%A_%a.out

set -euo pipefail

: "${SLURM_ARRAY_TASK_ID:?run this script with sbatch (it is a job array script)}"
: "${SLURM_ARRAY_TASK_COUNT:?this Slurm does not set SLURM_ARRAY_TASK_COUNT; pass --shards explicitly}"

# the repository checkout qbench must run from (it reads scenarios/ and calls git on it)
QBENCH_DIR="${QBENCH_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
QBENCH_BIN="${QBENCH_BIN:-$QBENCH_DIR/target/release/qbench}"
SCENARIO="${SCENARIO:-resnet}"
RESULTS="${RESULTS:-$HOME/qbench-results/$SCENARIO-${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}}"
# QUICK=1 runs the quick comparison (files named quick.*)
QUICK="${QUICK:-0}"
# optional: name the machine class in the results, e.g. the partition; qbench otherwise
# identifies the machine by CPU model, ISA class and cores
if [ -n "${MACHINE_LABEL:-}" ]; then export QBENCH_MACHINE_LABEL="$MACHINE_LABEL"; fi

if [ ! -x "$QBENCH_BIN" ]; then
  echo "qbench binary not found at $QBENCH_BIN: build it once with cargo build --release" >&2
  exit 2
fi
cd "$QBENCH_DIR"

out="$RESULTS/shard-$SLURM_ARRAY_TASK_ID"
mkdir -p "$out"
args=(compare --scenario "$SCENARIO" --out "$out")
if [ "$QUICK" = 1 ]; then args+=(--quick); fi

echo "qbench: task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT on $(hostname), results in $out"
exec "$QBENCH_BIN" "${args[@]}"
