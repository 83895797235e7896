/**
 * GPU-parallel RANSAC for the fundamental matrix (`shaders/ransac.wgsl`):
 * minimal samples drawn, solved and scored on every match in parallel, one
 * winner per segment of each batch reduced on the GPU; only those winners
 * come back. The CPU then applies the plane (DEGENSAC) recovery and the
 * float64 local optimisation of `fundamental.ts` to the best candidates. The
 * sampling, schedule, scoring and local optimisation are those of
 * {@link estimateFundamentalCpu}, its float64 reference.
 * @module
 */
import {
  batches,
  type Candidate,
  estimateFundamentalCpu,
  finishEstimate,
  type FundamentalResult,
  keepBest,
  MAGSAC_CONSTANTS,
  type Points,
  prepareMatches,
  type RansacOptions,
  resolveOptions,
  sampleSize,
  segments,
  SEGMENTS_PER_BATCH,
} from "./fundamental.ts";
import { type Gpu, grid, type KernelTuning } from "./gpu.ts";

export type { FundamentalResult, Points, RansacOptions } from "./fundamental.ts";

/** Floats per hypothesis record: score, inliers (u32 bits), index (u32 bits), F (9). */
const REC = 12;
const WG = 64;
/** Invocations sharing a hypothesis per kernel tuning (`LANES` of shaders/ransac.wgsl). */
const LANES: Record<KernelTuning, number> = { cpu: 1, gpu: 64 };

/**
 * Robust estimation of the fundamental matrix on the GPU (OpenCV's
 * `findFundamentalMat` with `USAC_MAGSAC` in spirit): hypotheses from minimal
 * samples of a counter-based PRNG (seeded per hypothesis, so the same seed and
 * input give the same result), 7-point (default) or normalised 8-point
 * solver, MAGSAC++ (default) or MSAC score of the Sampson distance of every
 * match, adaptive stopping from the inlier ratio and `confidence` checked
 * after each batch, then plane recovery and iteratively reweighted 8-point
 * local optimisation in float64, rank 2 enforced.
 *
 * @param gpu the device ({@link Gpu.create})
 * @param points0 matches in image 0, `[x, y, x, y, …]` pixels
 * @param points1 the same matches in image 1
 * @param options defaults: threshold 0.5 px, confidence 0.99999, maxIterations
 *   10000, seed 0, solver `7pt`, score `magsac`, maxThreshold 3 · threshold,
 *   batchSize 2048, loIterations 50 (see {@link RansacOptions})
 * @returns F (`x1ᵀ F x0 = 0`, row-major, unit norm) or `null` with the reason,
 *   the inlier mask, the number of hypotheses drawn and why it stopped.
 *   Malformed arguments (odd or different lengths, bad options) throw a RangeError.
 */
export async function estimateFundamental(
  gpu: Gpu,
  points0: Points,
  points1: Points,
  options: RansacOptions = {},
): Promise<FundamentalResult> {
  const o = resolveOptions(options);
  const p = prepareMatches(points0, points1);
  if (!("data" in p)) return p;
  const lanes = LANES[gpu.tuning];
  const constants = {
    M: sampleSize(o.solver),
    SCORE: o.score === "magsac" ? 0 : 1,
    WG,
    LANES: lanes,
  };
  const [solve, reduce] = await Promise.all([
    gpu.kernel("ransac.wgsl", "hypotheses", constants),
    gpu.kernel("ransac.wgsl", "reduce", constants),
  ]);
  const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
  const hyp = gpu.tensor([Math.min(o.batchSize, o.maxIterations), REC]);
  const best = gpu.tensor([SEGMENTS_PER_BATCH, REC]);
  const f32 = [
    p.norm0.scale ** 2,
    p.norm1.scale ** 2,
    o.threshold ** 2,
    o.maxThreshold ** 2,
    MAGSAC_CONSTANTS.uk,
    MAGSAC_CONSTANTS.gammaK,
    MAGSAC_CONSTANTS.lossMax,
  ];
  try {
    let pool: Candidate[] = [];
    const schedule = batches(p.n, o);
    let step = schedule.next();
    while (!step.done) {
      const [first, count] = step.value;
      const segs = segments(first, count);
      const u32 = [p.n, first, count, o.seed >>> 0, segs[0][1]];
      gpu.dispatch({
        pipeline: solve,
        buffers: [pts, hyp],
        u32,
        f32,
        workgroups: grid(count * lanes, WG),
      });
      gpu.dispatch({
        pipeline: reduce,
        buffers: [hyp, best],
        u32,
        f32,
        workgroups: [segs.length],
      });
      const rec = await gpu.read(best, segs.length * REC);
      const bits = new Uint32Array(rec.buffer);
      const winners: Candidate[] = [];
      for (let s = 0; s < segs.length; s++) {
        const r = s * REC;
        if (!(rec[r] >= 0)) continue;
        winners.push({
          score: rec[r],
          inliers: bits[r + 1],
          h: bits[r + 2],
          F: Float64Array.from(rec.subarray(r + 3, r + 12)),
        });
      }
      pool = keepBest(pool, winners);
      step = schedule.next(pool[0]?.inliers ?? 0);
    }
    return finishEstimate(pool, p, o, step.value);
  } finally {
    gpu.release(pts, hyp, best);
  }
}

/**
 * {@link estimateFundamental} on `gpu` when there is one, else the float64
 * CPU reference {@link estimateFundamentalCpu} (same samples and options).
 */
export function findFundamental(
  gpu: Gpu | null,
  points0: Points,
  points1: Points,
  options: RansacOptions = {},
): Promise<FundamentalResult> {
  return gpu
    ? estimateFundamental(gpu, points0, points1, options)
    : Promise.resolve(estimateFundamentalCpu(points0, points1, options));
}
