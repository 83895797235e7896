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
import {
  batches,
  type Candidate,
  estimateFundamentalCpu,
  finishEstimate,
  type FundamentalResult,
  keepBest,
  LO_CONVERGED,
  MAGSAC_CONSTANTS,
  type Points,
  type PreparedMatches,
  prepareMatches,
  type RansacOptions,
  recoverCandidates,
  type ResolvedOptions,
  resolveOptions,
  sampleSize,
  type ScoredModel,
  screenCandidates,
  SCREENING_LO_ITERATIONS,
  segments,
  SEGMENTS_PER_BATCH,
} from "./fundamental.ts";
import { type Gpu, grid, type KernelTuning, type Tensor } from "../gpu/gpu.ts";

const SHADER = new URL("../kernels/ransac.wgsl", import.meta.url);

export type { FundamentalResult, Points, RansacOptions } from "./fundamental.ts";

/** Floats per record: score, inliers (u32 bits), index (u32 bits), F (9). */
const REC = 12;
const WG = 64;
/** Invocations sharing a hypothesis per kernel tuning (`LANES` of kernels/ransac.wgsl). */
const LANES: Record<KernelTuning, number> = { cpu: 1, gpu: 64 };

/** The override constants of kernels/ransac.wgsl for `gpu` and the options. */
function constants(gpu: Gpu, o: ResolvedOptions): Record<string, number> {
  return {
    M: sampleSize(o.solver),
    SCORE: o.score === "magsac" ? 0 : 1,
    WG,
    LANES: LANES[gpu.tuning],
  };
}

/** The uniform block (`Params` of kernels/ransac.wgsl) of a dispatch on hypotheses [first, first + count). */
function params(
  p: PreparedMatches,
  o: ResolvedOptions,
  first: number,
  count: number,
  segment: number,
): { u32: number[]; f32: number[] } {
  return {
    u32: [p.n, first, count, o.seed >>> 0, segment, SCREENING_LO_ITERATIONS],
    f32: [
      p.norm0.scale ** 2,
      p.norm1.scale ** 2,
      o.threshold ** 2,
      o.maxThreshold ** 2,
      MAGSAC_CONSTANTS.uk,
      MAGSAC_CONSTANTS.gammaK,
      MAGSAC_CONSTANTS.lossMax,
      LO_CONVERGED,
    ],
  };
}

/** Record `k` of `rec` as a candidate. */
function record(rec: Float32Array, k: number): Candidate {
  const r = k * REC, bits = new Uint32Array(rec.buffer, rec.byteOffset + 4 * r, 3);
  return {
    score: rec[r],
    inliers: bits[1],
    h: bits[2],
    F: Float64Array.from(rec.subarray(r + 3, r + REC)),
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
  const lanes = LANES[gpu.tuning];
  const [solve, reduce] = await Promise.all([
    gpu.kernel(SHADER, "hypotheses", constants(gpu, o)),
    gpu.kernel(SHADER, "reduce", constants(gpu, o)),
  ]);
  const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
  const hyp = gpu.tensor([Math.min(o.batchSize, o.maxIterations), REC]);
  const best = gpu.tensor([SEGMENTS_PER_BATCH, REC]);
  try {
    let pool: Candidate[] = [];
    const schedule = batches(p.n, o);
    let step = schedule.next();
    while (!step.done) {
      const [first, count] = step.value;
      const segs = segments(first, count);
      const uniforms = params(p, o, first, count, segs[0][1]);
      gpu.dispatch({
        pipeline: solve,
        buffers: [pts, hyp],
        ...uniforms,
        workgroups: grid(count * lanes, WG),
      });
      gpu.dispatch({
        pipeline: reduce,
        buffers: [hyp, best],
        ...uniforms,
        workgroups: [segs.length],
      });
      const rec = await gpu.read(best, segs.length * REC) as Float32Array;
      const winners = segs.map((_, s) => record(rec, s)).filter((c) => c.score >= 0);
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
 * steps of `screenCandidates` (src/geometry/fundamental.ts) for every model, in f32,
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
  const pipeline = await gpu.kernel(SHADER, "screen", constants(gpu, o));
  const data = new Float32Array(models.length * REC);
  models.forEach((F, k) => data.set(F, k * REC + 3));
  const recs = gpu.tensor([models.length, REC], data);
  try {
    gpu.dispatch({
      pipeline,
      buffers: [pts, recs],
      ...params(p, o, 0, models.length, 0),
      workgroups: [models.length],
    });
    const rec = await gpu.read(recs) as Float32Array;
    return models.map((_, k) => {
      const { F, score } = record(rec, k);
      return { F, score };
    });
  } finally {
    gpu.release(recs);
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
