/**
 * The GPU steps of robust two-view estimation: hypotheses drawn, solved and
 * scored in parallel (`ransac.wgsl` for F, `ransac_homography.wgsl` for H,
 * sharing `include/ransac_common.wgsl`), the best of each segment of a
 * batch, and, for F, the short local optimisation that screens the
 * candidates. The estimators that drive them are in `geometry/ransac_gpu.ts`.
 * @module
 */
import { type Gpu, grid, type KernelTuning, type Tensor } from "../gpu/mod.ts";

/** The WGSL file of each model. */
const SHADERS = {
  fundamental: new URL("./ransac.wgsl", import.meta.url),
  homography: new URL("./ransac_homography.wgsl", import.meta.url),
};

/** Floats per record: score, inliers (u32 bits), hypothesis index (u32 bits), model (9, row-major). */
export const RECORD_FLOATS = 12;
/** Invocations per workgroup. */
const WG = 64;
/** Invocations sharing a hypothesis per kernel tuning (`LANES` of ransac.wgsl). */
const LANES: Record<KernelTuning, number> = { cpu: 1, gpu: 64 };

/** What every dispatch of one estimation shares: the `Params` of the kernels but the batch. */
export interface RansacProblem {
  /** The model estimated. */
  model: "fundamental" | "homography";
  /** Matches (rows of the points tensor). */
  n: number;
  /** Sample seed. */
  seed: number;
  /** Minimal sample size: 4 (homography), 7 (7-point F) or 8 (normalised 8-point F). */
  sampleSize: 4 | 7 | 8;
  /** Hypothesis score: MAGSAC++ or MSAC. */
  score: "magsac" | "msac";
  /** Squared Hartley scale of image 0 (errors in pixels). */
  s0sq: number;
  /** Squared Hartley scale of image 1. */
  s1sq: number;
  /** Squared inlier threshold, px². */
  thr2: number;
  /** Squared MAGSAC++ maximum threshold, px². */
  max2: number;
  /** MAGSAC++ k²/2. */
  uk: number;
  /** MAGSAC++ Γ(3/2, k²/2). */
  gammaK: number;
  /** MAGSAC++ γ(5/2, k²/2). */
  lossMax: number;
  /** Local-optimisation steps of the screening. */
  iterations: number;
  /** Relative score gain under which the screening's steps stop. */
  converged: number;
}

/** A record read back: a model (normalised coordinates), its score and hypothesis index. */
export interface RansacRecord {
  /** Score (higher is better; −1 for a sample that gave no model). */
  score: number;
  /** Matches below the inlier threshold. */
  inliers: number;
  /** Hypothesis index. */
  h: number;
  /** The model of normalised coordinates, row-major. */
  M: Float64Array;
}

function kernel(gpu: Gpu, entry: string, p: RansacProblem) {
  return gpu.kernel(SHADERS[p.model], entry, {
    M: p.sampleSize,
    SCORE: p.score === "magsac" ? 0 : 1,
    WG,
    LANES: LANES[gpu.tuning],
  });
}

function uniforms(p: RansacProblem, first: number, count: number, segment: number) {
  return {
    n: p.n,
    first,
    count,
    seed: p.seed >>> 0,
    segment,
    iterations: p.iterations,
    s0sq: p.s0sq,
    s1sq: p.s1sq,
    thr2: p.thr2,
    max2: p.max2,
    uk: p.uk,
    gammaK: p.gammaK,
    lossMax: p.lossMax,
    converged: p.converged,
  };
}

/**
 * Hypotheses `first … first + count − 1` on the normalised matches `pts`
 * `[n, 4]`: each draws its sample, solves it and scores its models on every
 * match; its best model's record goes to row `h − first` of `hyp`. Then the
 * best record of each segment of `segment` hypotheses goes to `best`.
 */
export async function scoreHypotheses(
  gpu: Gpu,
  p: RansacProblem,
  pts: Tensor,
  batch: { first: number; count: number; segment: number; segments: number },
  hyp: Tensor,
  best: Tensor,
): Promise<void> {
  const [solve, reduce] = await Promise.all([
    kernel(gpu, "hypotheses", p),
    kernel(gpu, "reduce", p),
  ]);
  const u = uniforms(p, batch.first, batch.count, batch.segment);
  gpu.dispatch({
    kernel: solve,
    bindings: { pts, hyp },
    uniforms: u,
    workgroups: grid(batch.count * LANES[gpu.tuning], WG),
  });
  gpu.dispatch({
    kernel: reduce,
    bindings: { records: hyp, best },
    uniforms: u,
    workgroups: [batch.segments],
  });
}

/**
 * The screening of F's candidates: `p.iterations` local-optimisation steps
 * of the model of each record of `records` (its F set, in normalised
 * coordinates), one workgroup each; each record's score and F become its
 * last kept step's.
 */
export async function screenRecords(
  gpu: Gpu,
  p: RansacProblem,
  pts: Tensor,
  records: Tensor,
): Promise<void> {
  if (p.model !== "fundamental") throw new Error("screenRecords: only F has a GPU screening");
  const count = records.shape[0];
  gpu.dispatch({
    kernel: await kernel(gpu, "screen", p),
    bindings: { pts, hyp: records },
    uniforms: uniforms(p, 0, count, 0),
    workgroups: [count],
  });
}

/** Record `k` of read-back records `rec`. */
export function readRecord(rec: Float32Array, k: number): RansacRecord {
  const r = k * RECORD_FLOATS, bits = new Uint32Array(rec.buffer, rec.byteOffset + 4 * r, 3);
  return {
    score: rec[r],
    inliers: bits[1],
    h: bits[2],
    M: Float64Array.from(rec.subarray(r + 3, r + RECORD_FLOATS)),
  };
}
