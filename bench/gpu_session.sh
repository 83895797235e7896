#!/usr/bin/env bash
# Everything the GPU goals need, in one run on a lent GPU machine (../shared/docs/gpu.md):
# the kernel/stage bench of both models at 640×480, 1280×960 and 1600×1200 (the full model's
# real peak memory at 1600×1200 included) and the RANSAC bench (bench/ransac.ts; without
# OpenCV there, its OpenCV columns stay empty: compare with bench/results/ransac-lavapipe.md).
#
# Here:   ../shared/tools/gpu-pack
# There:  (device run, .gpu carried)  bash bench/gpu_session.sh
# Results land in $OUT (or out/gpu): copy bench-gpu.json and ransac-gpu.* into bench/results/.
set -uo pipefail
cd "$(dirname "$0")/.."
. .gpu/env.sh
out=${OUT:-out/gpu}
mkdir -p "$out"
run="deno run --cached-only --allow-read --allow-write --allow-env --allow-run=git"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.txt" 2>&1
$run bench/main.ts --model full,tiny --sizes 640x480,1280x960,1600x1200 \
  --out "$out/bench-gpu.json" 2>&1 | tee "$out/bench.log"
$run bench/ransac.ts 2>&1 | tee "$out/ransac.log"
for f in bench/results/ransac-*; do
  case "$f" in *lavapipe*) ;; *) cp "$f" "$out/" ;; esac
done
ls -l "$out"
