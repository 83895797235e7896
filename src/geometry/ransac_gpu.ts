/**
 * GPU-parallel RANSAC for the fundamental matrix (`kernels/ransac.wgsl`) and
 * the homography (`kernels/ransac_homography.wgsl`):
 * minimal samples drawn, solved and scored on every match in parallel, one
 * winner per segment of each batch reduced on the GPU; only those winners
 * come back. The CPU applies the plane (DEGENSAC) recovery to the best
 * candidates of F, they are screened by a short local optimisation (F on a
 * GPU: all in one dispatch; F with the "cpu" kernel tuning, and H: in float64
 * on the CPU), and the CPU optimises the best of them further in float64. The
 * sampling, schedule, scoring and local optimisation are those of the float64
 * references in ransac_cpu.ts.
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
import { fundamentalKind } from "./fundamental_solvers.ts";
import { HOMOGRAPHY } from "./homography_solvers.ts";
import {
  LO_CONVERGED,
  type ScoredModel,
  screenCandidates,
  SCREENING_LO_ITERATIONS,
} from "./local_optimization.ts";
import { type PreparedMatches, prepareMatches } from "./matches.ts";
import type { ModelKind } from "./model_kind.ts";
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
  type HomographyOptions,
  type HomographyResult,
  type Points,
  type RansacOptions,
  type ResolvedOptions,
  resolveOptions,
  type RobustResult,
} from "./ransac_options.ts";
import { MAGSAC_CONSTANTS } from "./scores.ts";

/**
 * The kernels' view of one estimation (kernels/ransac.ts): the model, sizes,
 * scales, thresholds and constants of the matches `p` under the options `o`.
 */
export function ransacProblem(
  kind: ModelKind,
  p: PreparedMatches,
  o: ResolvedOptions,
): RansacProblem {
  return {
    model: kind === HOMOGRAPHY ? "homography" : "fundamental",
    n: p.n,
    seed: o.seed,
    sampleSize: kind.sampleSize as 4 | 7 | 8,
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
 * The robust loop of `kind` with the hypotheses on the GPU: each batch's
 * samples solved and scored in parallel, one winner per segment read back;
 * the candidates recovered and screened (F on a GPU by `screen`, else in
 * float64 on the CPU), the best finished in float64.
 */
async function robustGpu(
  gpu: Gpu,
  kind: ModelKind,
  points0: Points,
  points1: Points,
  options: RansacOptions,
): Promise<RobustResult> {
  const o = resolveOptions(options);
  const p = prepareMatches(points0, points1, kind.minimumMatches);
  if (!("data" in p)) return p;
  const kp = ransacProblem(kind, p, o);
  const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
  const hyp = gpu.tensor([Math.min(o.batchSize, o.maxIterations), RECORD_FLOATS]);
  const best = gpu.tensor([SEGMENTS_PER_BATCH, RECORD_FLOATS]);
  try {
    let pool: Candidate[] = [];
    const schedule = batches(p.n, kind.sampleSize, o);
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
    const models = recoverCandidates(kind, pool, p, o);
    // On a CPU adapter the float64 screening is faster than `screen` (lavapipe, 2 000 matches:
    // 5 against 31 ms) and exact; on a GPU it is the obstacle to a 2 ms estimate.
    const screened = kp.model !== "fundamental" || gpu.tuning === "cpu" || !models.length
      ? screenCandidates(kind, models, p, o)
      : await screenCandidatesGpu(gpu, pts, p, o, models);
    return finishEstimate(kind, screened, p, o, step.value);
  } finally {
    gpu.release(pts, hyp, best);
  }
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
  const kind = fundamentalKind(options.solver ?? "7pt");
  const { model, ...rest } = await robustGpu(gpu, kind, points0, points1, options);
  return { F: model, ...rest };
}

/**
 * Robust estimation of a homography on the GPU (OpenCV's `findHomography`
 * with `USAC_MAGSAC` in spirit), for planar scenes and camera rotations
 * (panoramas): the same sampling, adaptive stopping and MAGSAC++/MSAC
 * scoring as {@link estimateFundamental}, with 4-match samples solved by the
 * normalised DLT (samples with three points on a line, or mirrored, are
 * rejected), the symmetric transfer error as the error of a match, and
 * iteratively reweighted DLT as local optimisation (float64, on the CPU).
 *
 * @example
 * ```ts
 * import { estimateHomography, Matcher } from "./mod.ts";
 *
 * const matcher = await Matcher.create();
 * const m = await matcher.match("left.jpg", "right.jpg");
 * const r = await estimateHomography(matcher.gpu, m.keypoints0, m.keypoints1, { threshold: 3 });
 * if (r.H) console.log(`H (x1 ~ H x0): ${r.H}, ${r.inlierCount} inliers`);
 * matcher.destroy();
 * ```
 *
 * @param gpu the device ({@link Gpu.create})
 * @param points0 matches in image 0, `[x, y, x, y, …]` pixels
 * @param points1 the same matches in image 1
 * @param options as {@link estimateFundamental}'s, the threshold on the
 *   symmetric transfer error in pixels (default 0.5)
 * @returns H (`x1 ~ H x0`, row-major, unit norm) or `null` with the reason,
 *   the inlier mask, the number of hypotheses drawn and why it stopped.
 *   Malformed arguments throw a RangeError.
 */
export async function estimateHomography(
  gpu: Gpu,
  points0: Points,
  points1: Points,
  options: HomographyOptions = {},
): Promise<HomographyResult> {
  const { model, ...rest } = await robustGpu(gpu, HOMOGRAPHY, points0, points1, options);
  return { H: model, ...rest };
}

/**
 * The screening of F's candidates on the GPU (entry point `screen` of
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
    await screenRecords(gpu, ransacProblem(fundamentalKind(o.solver), p, o), pts, records);
    const rec = await gpu.read(records) as Float32Array;
    return models.map((_, k) => {
      const { M, score } = readRecord(rec, k);
      return { M, score };
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
