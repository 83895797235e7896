#!/usr/bin/env bash
# Everything the GPU goals need, in one run on a lent GPU machine (../shared/docs/gpu.md):
# the kernel/stage bench of both models at 640×480, 1280×960 and 1600×1200 (the full model's
# real peak memory at 1600×1200 included) and the RANSAC bench (bench/ransac.ts; without
# OpenCV there, its OpenCV columns stay empty: compare with bench/results/ransac-lavapipe.md).
#
# With the argument `tunings`, a second run (one device call each: both fit in 10 minutes
# apart, perhaps not together) benches the full model at 640×480 and RANSAC with the "cpu"
# kernel tuning too (src/gpu/gpu.ts KernelTuning; a GPU gets "gpu" by default), to compare the
# two sets of kernel shapes on the same GPU.
#
# Here:   ../shared/tools/gpu-pack
# There:  (device run, .gpu carried)  bash bench/gpu_session.sh [tunings]
# Results land in $OUT (or out/gpu): copy bench-gpu*.json and ransac-gpu.* into bench/results/.
set -uo pipefail
cd "$(dirname "$0")/.."
. .gpu/env.sh
out=${OUT:-out/gpu}
mkdir -p "$out"
run="deno run --cached-only --allow-read --allow-write --allow-env --allow-run=git"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.txt" 2>&1
if [ "${1:-}" = tunings ]; then
  for tuning in gpu cpu; do
    $run bench/main.ts --model full --sizes 640x480 --tuning $tuning \
      --kernels conv,attention,dual_softmax,fine,ransac \
      --out "$out/bench-gpu-$tuning-tuning.json" 2>&1 | tee "$out/bench-$tuning-tuning.log"
  done
  ls -l "$out"
  exit 0
fi
$run bench/main.ts --model full,tiny --sizes 640x480,1280x960,1600x1200 \
  --out "$out/bench-gpu.json" 2>&1 | tee "$out/bench.log"
$run bench/ransac.ts 2>&1 | tee "$out/ransac.log"
for f in bench/results/ransac-*; do
  case "$f" in *lavapipe*) ;; *) cp "$f" "$out/" ;; esac
done
ls -l "$out"
