#!/usr/bin/env bash
# Sharded `deno task reconstruct` on Slurm: submits a job array of N shards
# (deploy/slurm/shard.sbatch, tasks 0…N-1) and a merge job
# (deploy/slurm/merge.sbatch) that starts when every shard has succeeded
# (--dependency=afterok), and prints both job ids.
#
#   deploy/slurm/submit.sh IMAGES OUT N [reconstruct options…]
#
# IMAGES: the folder of photos; OUT: the output folder (shards in OUT/shards/,
# job logs in OUT/logs/); both, and the checkout, must be on storage that every
# node sees. Options after N go to every shard and to the merge.
#
# Environment:
#   GPUS_PER_TASK    GPUs per shard and for the merge: --gres=gpu:<n> (default 1;
#                    0 leaves --gres out, for a cluster without GPUs or gres)
#   MAX_PARALLEL     at most this many shards at once (--array=0-<N-1>%P)
#   DENO_LOFTR_REPO  the checkout the jobs run in (default: the one holding this script)
#   SHARD_SBATCH_ARGS, MERGE_SBATCH_ARGS
#                    more sbatch options for the shards or the merge, split at
#                    spaces (e.g. "--cpus-per-task=8 --time=2:00:00")
#   sbatch's own input variables (SBATCH_PARTITION, SBATCH_ACCOUNT,
#   SBATCH_TIMELIMIT, …) apply to both jobs.
#
# If a shard fails, Slurm cancels the merge (--kill-on-invalid-dep=yes); run
# the failed shards again and then the merge:
#   sbatch --array=<I,…> --chdir=<checkout> deploy/slurm/shard.sbatch IMAGES OUT N
#   sbatch --dependency=afterok:<that job> --chdir=<checkout> deploy/slurm/merge.sbatch IMAGES OUT
set -euo pipefail
usage="usage: $0 IMAGES OUT N [reconstruct options…]"
if [ $# -lt 3 ]; then
  echo "$usage" >&2
  exit 2
fi
images=$1 out=$2 shards=$3
shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=${DENO_LOFTR_REPO:-$(cd "$here/../.." && pwd)}
if ! [[ $shards =~ ^[0-9]+$ ]] || [ "$((10#$shards))" -lt 1 ]; then
  echo "error: N = $shards: expected the number of shards, a whole number of at least 1" >&2
  exit 2
fi
shards=$((10#$shards))
gpus=${GPUS_PER_TASK-1}
if ! [[ $gpus =~ ^[0-9]+$ ]]; then
  echo "error: GPUS_PER_TASK=$gpus: expected a whole number (0: no --gres)" >&2
  exit 2
fi
parallel=${MAX_PARALLEL:-}
if [ -n "$parallel" ] && ! [[ $parallel =~ ^[1-9][0-9]*$ ]]; then
  echo "error: MAX_PARALLEL=$parallel: expected a whole number of at least 1" >&2
  exit 2
fi
if [ ! -d "$images" ]; then
  echo "error: $images: no such folder" >&2
  exit 2
fi
if [ ! -f "$repo/deno.json" ]; then
  echo "error: $repo: not a deno-loftr checkout (set DENO_LOFTR_REPO)" >&2
  exit 2
fi
images=$(cd "$images" && pwd)
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
gres=()
if [ "$gpus" -gt 0 ]; then gres=("--gres=gpu:$gpus"); fi
array="0-$((shards - 1))${parallel:+%$parallel}"
read -r -a shard_extra <<<"${SHARD_SBATCH_ARGS:-}"
read -r -a merge_extra <<<"${MERGE_SBATCH_ARGS:-}"

shard_job=$(sbatch --parsable --array="$array" --chdir="$repo" ${gres[@]+"${gres[@]}"} \
  --output="$out/logs/shard-%A_%a.out" ${shard_extra[@]+"${shard_extra[@]}"} \
  "$here/shard.sbatch" "$images" "$out" "$shards" "$@")
shard_job=${shard_job%%;*} # --parsable prints "id" or "id;cluster"
merge_job=$(sbatch --parsable --dependency="afterok:$shard_job" --kill-on-invalid-dep=yes \
  --chdir="$repo" ${gres[@]+"${gres[@]}"} --output="$out/logs/merge-%j.out" \
  ${merge_extra[@]+"${merge_extra[@]}"} "$here/merge.sbatch" "$images" "$out" "$@")
merge_job=${merge_job%%;*}
echo "shards: job $shard_job, array $array (logs: $out/logs/shard-${shard_job}_<i>.out)"
echo "merge:  job $merge_job, after every shard succeeds (log: $out/logs/merge-$merge_job.out)"
echo "watch:  squeue -j $shard_job,$merge_job"
