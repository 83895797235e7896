/**
 * GPU-parallel RANSAC for the fundamental matrix (`kernels/ransac.wgsl`):
 * minimal samples drawn, solved and scored on every match in parallel, one
 * winner per segment of each batch reduced on the GPU; only those winners
 * come back. The CPU applies the plane (DEGENSAC) recovery to the best
 * candidates, they are screened by a short local optimisation (on a GPU, all
 * in one dispatch; with the "cpu" kernel tuning, in float64 on the CPU, which
 * is faster there), and the CPU optimises the best of them further in float64. The
 * sampling, schedule, scoring and local optimisation are those of
 * {@link estimateFundamentalCpu}, its float64 reference.
 * @module
 */
import type { Gpu, Tensor } from "../gpu/mod.ts";
import {
  type RansacProblem,
  readRecord,
  RECORD_FLOATS,
  scoreHypotheses,
  screenRecords,
} from "../kernels/ransac.ts";
import {
  LO_CONVERGED,
  type ScoredModel,
  screenCandidates,
  SCREENING_LO_ITERATIONS,
} from "./local_optimization.ts";
import { type PreparedMatches, prepareMatches } from "./matches.ts";
import {
  batches,
  type Candidate,
  finishEstimate,
  keepBest,
  recoverCandidates,
  segments,
  SEGMENTS_PER_BATCH,
} from "./ransac.ts";
import { estimateFundamentalCpu } from "./ransac_cpu.ts";
import {
  type FundamentalResult,
  type Points,
  type RansacOptions,
  type ResolvedOptions,
  resolveOptions,
  sampleSize,
} from "./ransac_options.ts";
import { MAGSAC_CONSTANTS } from "./scores.ts";

/**
 * The kernels' view of one estimation (kernels/ransac.ts): sizes, scales,
 * thresholds and constants of the matches `p` under the options `o`.
 */
export function ransacProblem(p: PreparedMatches, o: ResolvedOptions): RansacProblem {
  return {
    n: p.n,
    seed: o.seed,
    sampleSize: sampleSize(o.solver) as 7 | 8,
    score: o.score,
    s0sq: p.norm0.scale ** 2,
    s1sq: p.norm1.scale ** 2,
    thr2: o.threshold ** 2,
    max2: o.maxThreshold ** 2,
    uk: MAGSAC_CONSTANTS.uk,
    gammaK: MAGSAC_CONSTANTS.gammaK,
    lossMax: MAGSAC_CONSTANTS.lossMax,
    iterations: SCREENING_LO_ITERATIONS,
    converged: LO_CONVERGED,
  };
}

/**
 * Robust estimation of the fundamental matrix on the GPU (OpenCV's
 * `findFundamentalMat` with `USAC_MAGSAC` in spirit): hypotheses from minimal
 * samples of a counter-based PRNG (seeded per hypothesis, so the same seed and
 * input give the same result), 7-point (default) or normalised 8-point
 * solver, MAGSAC++ (default) or MSAC score of the Sampson distance of every
 * match, adaptive stopping from the inlier ratio and `confidence` checked
 * after each batch, then plane recovery and iteratively reweighted 8-point
 * local optimisation: the 8 best candidates screened by 10 steps each (in f32
 * on the GPU, or in float64 on the CPU with the "cpu" kernel tuning), the best
 * one optimised further in float64, rank 2 enforced.
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
  const kp = ransacProblem(p, o);
  const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
  const hyp = gpu.tensor([Math.min(o.batchSize, o.maxIterations), RECORD_FLOATS]);
  const best = gpu.tensor([SEGMENTS_PER_BATCH, RECORD_FLOATS]);
  try {
    let pool: Candidate[] = [];
    const schedule = batches(p.n, o);
    let step = schedule.next();
    while (!step.done) {
      const [first, count] = step.value;
      const segs = segments(first, count);
      await scoreHypotheses(
        gpu,
        kp,
        pts,
        {
          first,
          count,
          segment: segs[0][1],
          segments: segs.length,
        },
        hyp,
        best,
      );
      const rec = await gpu.read(best, segs.length * RECORD_FLOATS) as Float32Array;
      const winners = segs.map((_, s) => readRecord(rec, s)).filter((c) => c.score >= 0);
      pool = keepBest(pool, winners);
      step = schedule.next(pool[0]?.inliers ?? 0);
    }
    const models = recoverCandidates(pool, p, o);
    // On a CPU adapter the float64 screening is faster than `screen` (lavapipe, 2 000 matches:
    // 5 against 31 ms) and exact; on a GPU it is the obstacle to a 2 ms estimate.
    const screened = gpu.tuning === "cpu" || !models.length
      ? screenCandidates(models, p, o)
      : await screenCandidatesGpu(gpu, pts, p, o, models);
    return finishEstimate(screened, p, o, step.value);
  } finally {
    gpu.release(pts, hyp, best);
  }
}

/**
 * The screening of the candidates on the GPU (entry point `screen` of
 * kernels/ransac.wgsl): the {@link SCREENING_LO_ITERATIONS} local-optimisation
 * steps of `screenCandidates` (local_optimization.ts) for every model, in f32,
 * one workgroup per model, in one dispatch; one read-back of the results.
 *
 * @param gpu the device
 * @param pts `p`'s normalised matches on the GPU, `[n, 4]` f32
 * @param p the matches
 * @param o the options
 * @param models F of each candidate (normalised coordinates)
 * @returns each model's last kept step (unit norm, rank 2 unless none was kept) and its score
 */
export async function screenCandidatesGpu(
  gpu: Gpu,
  pts: Tensor,
  p: PreparedMatches,
  o: ResolvedOptions,
  models: Float64Array[],
): Promise<ScoredModel[]> {
  const data = new Float32Array(models.length * RECORD_FLOATS);
  models.forEach((F, k) => data.set(F, k * RECORD_FLOATS + 3));
  const records = gpu.tensor([models.length, RECORD_FLOATS], data);
  try {
    await screenRecords(gpu, ransacProblem(p, o), pts, records);
    const rec = await gpu.read(records) as Float32Array;
    return models.map((_, k) => {
      const { F, score } = readRecord(rec, k);
      return { F, score };
    });
  } finally {
    gpu.release(records);
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
