#!/bin/bash
# Merges the shards of scripts/engines/slurm/qbench-array.sh and publishes the result; submit it
# as a dependent job of the array (see qbench-array.sh):
#   sbatch --dependency=afterany:"$jobid" --chdir=/shared/qbench scripts/engines/slurm/qbench-merge.sh
# afterany (not afterok) so that it also runs when a shard failed: the strict merge then fails
# and names the missing shards; ALLOW_MISSING=1 merges and publishes what exists instead.
#
# Files from several arrays (other partitions or clusters) can be merged by hand the same way:
#   target/release/qbench merge A/shard-*/*.json B/shard-*/*.json --out merged
#
# Linted with shellcheck by scripts/lint-engines; not run on a real Slurm cluster.
#SBATCH --job-name=qbench-merge
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
#SBATCH --output=qbench-merge-%j.out
#SBATCH --error=qbench-merge-%j.out

set -euo pipefail

QBENCH_DIR="${QBENCH_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
QBENCH_BIN="${QBENCH_BIN:-$QBENCH_DIR/target/release/qbench}"
SCENARIO="${SCENARIO:-resnet}"
: "${RESULTS:?set RESULTS to the folder the array wrote its shard-*/ folders into}"
QUICK="${QUICK:-0}"
ALLOW_MISSING="${ALLOW_MISSING:-0}"
if [ "$QUICK" = 1 ]; then stem=quick; else stem=compare; fi

cd "$QBENCH_DIR"
shopt -s nullglob
files=("$RESULTS"/shard-*/"$stem".shard-*-of-*.json)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no $stem.shard-*-of-*.json under $RESULTS/shard-*/" >&2
  exit 2
fi

merged="$RESULTS/merged"
args=(merge "${files[@]}" --out "$merged")
if [ "$ALLOW_MISSING" = 1 ]; then args+=(--allow-missing); fi
"$QBENCH_BIN" "${args[@]}"
"$QBENCH_BIN" publish --scenario "$SCENARIO" --from "$merged/$stem.json" --out "$merged"
echo "merged: $merged/$stem.json, page: $merged/README.md"
