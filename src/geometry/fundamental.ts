/**
 * The fundamental matrix in float64: Hartley-normalised 8-point and 7-point
 * solvers, rank-2 enforcement, the Sampson error, MAGSAC++/MSAC scoring, local
 * optimisation (iteratively reweighted 8-point), and
 * {@link estimateFundamentalCpu}, the CPU reference of the GPU estimator in
 * `ransac.ts`. Both share the sampling (a counter-based PRNG), the batch
 * schedule with adaptive stopping, the scoring and the local optimisation
 * defined here, so that for one seed they draw the same minimal samples.
 *
 * Conventions: points are flat `[x, y, x, y, …]` pixel arrays; F is row-major
 * with `x1ᵀ F x0 = 0` for x0 in image 0 (`points0`) and x1 in image 1.
 * @module
 */
import {
  det3,
  frobenius,
  type Mat3,
  mul3,
  mulVec3,
  normalizeSign,
  nullSpace,
  svd3,
  symmetricNullVector,
  transpose3,
} from "./linalg.ts";

/** Flat pixel coordinates `[x₀, y₀, x₁, y₁, …]` of N points (length 2N). */
export type Points = ArrayLike<number>;

/** Minimal solver of the RANSAC hypotheses. */
export type FundamentalSolver = "7pt" | "8pt";

/** Scoring of a hypothesis: MAGSAC++ marginalised loss or MSAC truncated quadratic loss. */
export type ScoreMethod = "magsac" | "msac";

/** Options of the robust estimators ({@link estimateFundamentalCpu}, `estimateFundamental`). */
export interface RansacOptions {
  /** Inlier threshold on the Sampson distance, pixels (default 0.5). Sets the inlier mask and the adaptive stopping; for `msac` also the loss. */
  threshold?: number;
  /** Probability of having drawn one all-inlier sample before stopping (default 0.99999). */
  confidence?: number;
  /** Maximum number of minimal samples (hypotheses) drawn (default 10000). */
  maxIterations?: number;
  /** Seed of the sample generator (default 0). Same seed and input give the same result. */
  seed?: number;
  /** Minimal solver (default `7pt`: up to 3 models per 7-match sample). */
  solver?: FundamentalSolver;
  /** Hypothesis scoring (default `magsac`). */
  score?: ScoreMethod;
  /**
   * Largest noise level MAGSAC++ marginalises over, as a Sampson distance in
   * pixels (default 3 · threshold); matches beyond it are outliers for
   * the score and the local optimisation. Unused by `msac`.
   */
  maxThreshold?: number;
  /** Hypotheses per batch between two adaptive-stopping checks (default 2048). */
  batchSize?: number;
  /** Most iterations of the local optimisation of the winner (default 50; 0 turns it off). */
  loIterations?: number;
}

/** Why an estimation stopped. The first two come with an F, the others without. */
export type StopReason =
  | "confidence"
  | "max-iterations"
  | "too-few-matches"
  | "non-finite-coordinates"
  | "degenerate-points"
  | "no-valid-model";

/** Result of a robust fundamental-matrix estimation. */
export interface FundamentalResult {
  /** F, row-major, unit Frobenius norm, rank 2, `x1ᵀ F x0 = 0`; `null` when none was found. */
  F: Float64Array | null;
  /** 1 for the matches whose Sampson distance to F is below the threshold. */
  inliers: Uint8Array;
  /** Number of ones in `inliers`. */
  inlierCount: number;
  /** Number of minimal samples drawn. */
  hypotheses: number;
  /** Why it stopped; when F is `null`, why there is none. */
  stop: StopReason;
  /** A sentence for the user when F is `null`. */
  message?: string;
}

/** Options with every default applied. */
export type ResolvedOptions = Required<RansacOptions>;

/** √χ²₀.₉₉(4): MAGSAC++'s quantile turning σ_max into a residual bound (4 DoF for F). */
export const MAGSAC_K = 3.6437211935036444;

/** Fills in the documented defaults and checks the ranges; throws a RangeError on bad options. */
export function resolveOptions(o: RansacOptions = {}): ResolvedOptions {
  const threshold = o.threshold ?? 0.5;
  const r: ResolvedOptions = {
    threshold,
    confidence: o.confidence ?? 0.99999,
    maxIterations: o.maxIterations ?? 10000,
    seed: o.seed ?? 0,
    solver: o.solver ?? "7pt",
    score: o.score ?? "magsac",
    maxThreshold: Math.max(o.maxThreshold ?? 3 * threshold, threshold),
    batchSize: o.batchSize ?? 2048,
    loIterations: o.loIterations ?? 50,
  };
  const bad = (what: string) => {
    throw new RangeError(`fundamental matrix options: ${what}`);
  };
  if (!(r.threshold > 0 && Number.isFinite(r.threshold))) bad("threshold must be > 0");
  if (!(r.confidence > 0 && r.confidence <= 1)) bad("confidence must be in (0, 1]");
  if (!(Number.isInteger(r.maxIterations) && r.maxIterations >= 1)) {
    bad("maxIterations must be an integer ≥ 1");
  }
  if (!Number.isInteger(r.seed)) bad("seed must be an integer");
  if (r.solver !== "7pt" && r.solver !== "8pt") bad(`unknown solver ${r.solver}`);
  if (r.score !== "magsac" && r.score !== "msac") bad(`unknown score ${r.score}`);
  if (!(Number.isInteger(r.batchSize) && r.batchSize >= 1)) bad("batchSize must be ≥ 1");
  if (!(Number.isInteger(r.loIterations) && r.loIterations >= 0)) bad("loIterations must be ≥ 0");
  return r;
}

// ---------------------------------------------------------------------------
// Normalisation and input checks

/** Hartley normalisation of one image's points: `x̂ = scale · (x − center)`, mean distance √2. */
export interface Normalization {
  cx: number;
  cy: number;
  scale: number;
  /** The same as a 3×3 matrix `T` with `x̂ = T x`. */
  T: Mat3;
}

/** Hartley normalisation of N points (mean at the origin, mean distance √2). */
export function hartley(points: Points): Normalization {
  const n = points.length / 2;
  let cx = 0, cy = 0;
  for (let i = 0; i < n; i++) {
    cx += points[2 * i];
    cy += points[2 * i + 1];
  }
  cx /= n;
  cy /= n;
  let d = 0;
  for (let i = 0; i < n; i++) d += Math.hypot(points[2 * i] - cx, points[2 * i + 1] - cy);
  const scale = Math.SQRT2 / (d / n);
  return {
    cx,
    cy,
    scale,
    T: Float64Array.of(scale, 0, -scale * cx, 0, scale, -scale * cy, 0, 0, 1),
  };
}

/** Matches ready for estimation: both images Hartley-normalised, interleaved `[x0, y0, x1, y1]`. */
export interface PreparedMatches {
  /** Number of matches. */
  n: number;
  /** Normalised coordinates, 4 per match. */
  data: Float64Array;
  norm0: Normalization;
  norm1: Normalization;
}

/** Hartley-normalises each image's points and interleaves them (no checks). */
export function normalizeMatches(points0: Points, points1: Points): PreparedMatches {
  const norm0 = hartley(points0), norm1 = hartley(points1);
  const n = points0.length / 2, data = new Float64Array(4 * n);
  for (let i = 0; i < n; i++) {
    data[4 * i] = norm0.scale * (points0[2 * i] - norm0.cx);
    data[4 * i + 1] = norm0.scale * (points0[2 * i + 1] - norm0.cy);
    data[4 * i + 2] = norm1.scale * (points1[2 * i] - norm1.cx);
    data[4 * i + 3] = norm1.scale * (points1[2 * i + 1] - norm1.cy);
  }
  return { n, data, norm0, norm1 };
}

/** A result without F, for inputs or data that admit none. */
export function failure(n: number, stop: StopReason, message: string): FundamentalResult {
  return { F: null, inliers: new Uint8Array(n), inlierCount: 0, hypotheses: 0, stop, message };
}

/**
 * Checks a pair of point arrays and normalises them. Malformed arguments
 * (not arrays, odd or different lengths) throw a RangeError; inputs that admit
 * no F (fewer than 8 matches, NaN or infinite coordinates, fewer than 8
 * distinct matches, all points of an image on one line) give a failure result.
 */
export function prepareMatches(
  points0: Points,
  points1: Points,
): PreparedMatches | FundamentalResult {
  for (const [name, p] of [["points0", points0], ["points1", points1]] as const) {
    if (p === null || typeof p !== "object" || typeof p.length !== "number") {
      throw new RangeError(`${name} must be an array of coordinates [x, y, x, y, …]`);
    }
    if (p.length % 2 !== 0) throw new RangeError(`${name} has an odd length ${p.length}`);
  }
  if (points0.length !== points1.length) {
    throw new RangeError(
      `points0 and points1 differ in length: ${points0.length / 2} vs ${points1.length / 2} points`,
    );
  }
  const n = points0.length / 2;
  if (n < 8) return failure(n, "too-few-matches", `${n} matches; at least 8 are needed`);
  for (let i = 0; i < 2 * n; i++) {
    if (!Number.isFinite(points0[i]) || !Number.isFinite(points1[i])) {
      return failure(
        n,
        "non-finite-coordinates",
        `match ${i >> 1} has a NaN or infinite coordinate`,
      );
    }
  }
  const distinct = new Set<string>();
  for (let i = 0; i < n && distinct.size < 8; i++) {
    distinct.add(`${points0[2 * i]},${points0[2 * i + 1]},${points1[2 * i]},${points1[2 * i + 1]}`);
  }
  if (distinct.size < 8) {
    return failure(n, "degenerate-points", `only ${distinct.size} distinct matches; 8 are needed`);
  }
  for (const [k, p] of [[0, points0], [1, points1]] as const) {
    if (collinear(p)) {
      return failure(
        n,
        "degenerate-points",
        `all points of image ${k} lie on one line (or coincide)`,
      );
    }
  }
  return normalizeMatches(points0, points1);
}

/** Whether all points lie on one line: the smaller principal variance is ~0 relative to the larger. */
function collinear(p: Points): boolean {
  const n = p.length / 2;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += p[2 * i] / n;
    my += p[2 * i + 1] / n;
  }
  let sxx = 0, syy = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = p[2 * i] - mx, dy = p[2 * i + 1] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  const tr = sxx + syy, det = sxx * syy - sxy * sxy;
  // Smallest/largest eigenvalue of the 2×2 covariance ≈ det/tr²; 1e-12 is far below any real
  // spread (1e-6 of the extent) and far above float64 round-off on exactly collinear input.
  return tr === 0 || det / (tr * tr) < 1e-12;
}

// ---------------------------------------------------------------------------
// Sampling: a counter-based PRNG, the same in WGSL (kernels/ransac.wgsl)

/** PCG hash of a u32 (Jarzynski & Olano 2020), the generator of both estimators. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * The minimal sample of hypothesis `h`: `m` distinct indices in [0, n), drawn
 * as `pcg(key + c) mod n` for c = 0, 1, … with `key = pcg(seed ^ pcg(h))`,
 * skipping repeats. Writes them to `out`.
 */
export function drawSample(seed: number, h: number, n: number, m: number, out: Uint32Array): void {
  const key = pcgHash((seed ^ pcgHash(h)) >>> 0);
  let c = 0;
  for (let j = 0; j < m; j++) {
    let idx: number;
    let repeat: boolean;
    do {
      idx = pcgHash((key + c++) >>> 0) % n;
      repeat = false;
      for (let k = 0; k < j; k++) repeat ||= out[k] === idx;
    } while (repeat);
    out[j] = idx;
  }
}

// ---------------------------------------------------------------------------
// Solvers (float64)

/** Row of the epipolar constraint `x1ᵀ F x0 = 0` as a dot product with F's 9 entries. */
function constraintRow(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  out: Float64Array,
  o: number,
) {
  out[o] = x1 * x0;
  out[o + 1] = x1 * y0;
  out[o + 2] = x1;
  out[o + 3] = y1 * x0;
  out[o + 4] = y1 * y0;
  out[o + 5] = y1;
  out[o + 6] = x0;
  out[o + 7] = y0;
  out[o + 8] = 1;
}

/** Determinant of the 3 columns (a|b|c) picked from two matrices by a 3-bit mask (1 = from g). */
function mixedDet(h: ArrayLike<number>, g: ArrayLike<number>, mask: number): number {
  const m = new Float64Array(9);
  for (let c = 0; c < 3; c++) {
    const src = (mask >> c) & 1 ? g : h;
    for (let r = 0; r < 3; r++) m[3 * r + c] = src[3 * r + c];
  }
  return det3(m);
}

/**
 * Real roots of `c3 x³ + c2 x² + c1 x + c0` (trigonometric / Cardano form,
 * degrading to the quadratic or linear case when the leading coefficients
 * vanish), each polished by two Newton steps.
 */
export function cubicRoots(c3: number, c2: number, c1: number, c0: number): number[] {
  const scale = Math.max(Math.abs(c3), Math.abs(c2), Math.abs(c1), Math.abs(c0));
  if (scale === 0) return [];
  let roots: number[];
  if (Math.abs(c3) < 1e-12 * scale) {
    if (Math.abs(c2) < 1e-12 * scale) return Math.abs(c1) < 1e-12 * scale ? [] : [-c0 / c1];
    const disc = c1 * c1 - 4 * c2 * c0;
    if (disc < 0) return [];
    const q = -0.5 * (c1 + Math.sign(c1 || 1) * Math.sqrt(disc));
    roots = q === 0 ? [0] : [q / c2, c0 / q];
  } else {
    const a = c2 / c3, b = c1 / c3, c = c0 / c3;
    const Q = (a * a - 3 * b) / 9, R = (2 * a * a * a - 9 * a * b + 27 * c) / 54;
    if (R * R < Q * Q * Q) {
      const theta = Math.acos(R / Math.sqrt(Q * Q * Q)), s = -2 * Math.sqrt(Q);
      roots = [0, 1, -1].map((k) => s * Math.cos((theta + 2 * Math.PI * k) / 3) - a / 3);
    } else {
      const A = -Math.sign(R || 1) * Math.cbrt(Math.abs(R) + Math.sqrt(R * R - Q * Q * Q));
      roots = [A + (A === 0 ? 0 : Q / A) - a / 3];
    }
  }
  return roots.map((x) => {
    for (let k = 0; k < 2; k++) {
      const f = ((c3 * x + c2) * x + c1) * x + c0, df = (3 * c3 * x + 2 * c2) * x + c1;
      if (df !== 0) x -= f / df;
    }
    return x;
  });
}

/**
 * F from the 2-dimensional null space {F1, F2} of 7 constraints: the real roots
 * α of det(F2 + α (F1 − F2)) = 0, as up to 3 matrices.
 */
function sevenPointFromBasis(f1: ArrayLike<number>, f2: ArrayLike<number>): Float64Array[] {
  const g = Float64Array.from(f1, (v, i) => v - f2[i]);
  const c0 = det3(f2), c3 = det3(g);
  const c1 = mixedDet(f2, g, 1) + mixedDet(f2, g, 2) + mixedDet(f2, g, 4);
  const c2 = mixedDet(f2, g, 6) + mixedDet(f2, g, 5) + mixedDet(f2, g, 3);
  return cubicRoots(c3, c2, c1, c0).map((a) => Float64Array.from(f2, (v, i) => v + a * g[i]));
}

/** Closest rank-2 matrix in Frobenius norm (smallest singular value set to 0). */
export function enforceRank2(F: ArrayLike<number>): Mat3 {
  const { U, S, V } = svd3(F);
  const us = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    us[3 * r] = U[3 * r] * S[0];
    us[3 * r + 1] = U[3 * r + 1] * S[1];
  }
  return mul3(us, transpose3(V));
}

/** `T1ᵀ F̂ T0`: F of normalised coordinates back to pixels, unit norm, sign fixed. */
export function denormalize(
  Fn: ArrayLike<number>,
  norm0: Normalization,
  norm1: Normalization,
): Mat3 {
  return normalizeSign(mul3(transpose3(norm1.T), mul3(Fn, norm0.T)));
}

/** Solutions of the 7-point problem on normalised matches `data` at `idx` (up to 3). */
function sevenPointNormalized(data: Float64Array, idx: ArrayLike<number>): Float64Array[] {
  const a = new Float64Array(63);
  for (let r = 0; r < 7; r++) {
    const i = idx[r];
    constraintRow(data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3], a, 9 * r);
  }
  const { vectors, singularValues } = nullSpace(a, 7, 9, 2);
  // Rank < 7 (repeated or degenerate points): the problem has no isolated solutions.
  if (singularValues[6] < 1e-10 * singularValues[0]) return [];
  return sevenPointFromBasis(vectors[0], vectors[1]);
}

/**
 * Normalised (weighted) 8-point solution on normalised matches: the F minimising
 * Σ wᵢ (x1ᵢᵀ F x0ᵢ)², rank 2 enforced. `null` when fewer than 8 weights are positive.
 */
function eightPointNormalized(data: Float64Array, weights: ArrayLike<number>): Float64Array | null {
  // The normal equations Σ wᵢ aᵢaᵢᵀ, aᵢ = (q0 … q8) the constraint row of match i
  // (constraintRow), accumulated in 45 scalars s_rc (r ≤ c): twice as fast as in an array.
  // deno-fmt-ignore
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s04 = 0, s05 = 0, s06 = 0, s07 = 0, s08 = 0,
    s11 = 0, s12 = 0, s13 = 0, s14 = 0, s15 = 0, s16 = 0, s17 = 0, s18 = 0,
    s22 = 0, s23 = 0, s24 = 0, s25 = 0, s26 = 0, s27 = 0, s28 = 0,
    s33 = 0, s34 = 0, s35 = 0, s36 = 0, s37 = 0, s38 = 0,
    s44 = 0, s45 = 0, s46 = 0, s47 = 0, s48 = 0,
    s55 = 0, s56 = 0, s57 = 0, s58 = 0,
    s66 = 0, s67 = 0, s68 = 0,
    s77 = 0, s78 = 0,
    s88 = 0;
  let used = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!(w > 0)) continue;
    used++;
    const x0 = data[4 * i], y0 = data[4 * i + 1], x1 = data[4 * i + 2], y1 = data[4 * i + 3];
    const q0 = x1 * x0, q1 = x1 * y0, q2 = x1, q3 = y1 * x0, q4 = y1 * y0, q5 = y1;
    const q6 = x0, q7 = y0, q8 = 1;
    let wq: number;
    // deno-fmt-ignore
    {
      wq = w * q0; s00 += wq * q0; s01 += wq * q1; s02 += wq * q2; s03 += wq * q3; s04 += wq * q4; s05 += wq * q5; s06 += wq * q6; s07 += wq * q7; s08 += wq * q8;
      wq = w * q1; s11 += wq * q1; s12 += wq * q2; s13 += wq * q3; s14 += wq * q4; s15 += wq * q5; s16 += wq * q6; s17 += wq * q7; s18 += wq * q8;
      wq = w * q2; s22 += wq * q2; s23 += wq * q3; s24 += wq * q4; s25 += wq * q5; s26 += wq * q6; s27 += wq * q7; s28 += wq * q8;
      wq = w * q3; s33 += wq * q3; s34 += wq * q4; s35 += wq * q5; s36 += wq * q6; s37 += wq * q7; s38 += wq * q8;
      wq = w * q4; s44 += wq * q4; s45 += wq * q5; s46 += wq * q6; s47 += wq * q7; s48 += wq * q8;
      wq = w * q5; s55 += wq * q5; s56 += wq * q6; s57 += wq * q7; s58 += wq * q8;
      wq = w * q6; s66 += wq * q6; s67 += wq * q7; s68 += wq * q8;
      wq = w * q7; s77 += wq * q7; s78 += wq * q8;
      wq = w * q8; s88 += wq * q8;
    }
  }
  if (used < 8) return null;
  // deno-fmt-ignore
  const ata = Float64Array.of(
    s00, s01, s02, s03, s04, s05, s06, s07, s08,
    s01, s11, s12, s13, s14, s15, s16, s17, s18,
    s02, s12, s22, s23, s24, s25, s26, s27, s28,
    s03, s13, s23, s33, s34, s35, s36, s37, s38,
    s04, s14, s24, s34, s44, s45, s46, s47, s48,
    s05, s15, s25, s35, s45, s55, s56, s57, s58,
    s06, s16, s26, s36, s46, s56, s66, s67, s68,
    s07, s17, s27, s37, s47, s57, s67, s77, s78,
    s08, s18, s28, s38, s48, s58, s68, s78, s88,
  );
  return enforceRank2(symmetricNullVector(ata, 9));
}

/**
 * The 7-point algorithm (Hartley–Zisserman 11.1.2) on exactly 7 matches, with
 * Hartley normalisation: the 0 to 3 fundamental matrices (rank 2, unit norm)
 * that satisfy all 7 constraints. Returns [] for degenerate samples.
 */
export function sevenPoint(points0: Points, points1: Points): Mat3[] {
  if (points0.length !== 14 || points1.length !== 14) {
    throw new RangeError("sevenPoint needs exactly 7 matches");
  }
  const { data, norm0, norm1 } = normalizeMatches(points0, points1);
  return sevenPointNormalized(data, [0, 1, 2, 3, 4, 5, 6]).map((F) => denormalize(F, norm0, norm1));
}

/**
 * The normalised 8-point algorithm (Hartley 1997) on ≥ 8 matches, optionally
 * weighted (least squares of wᵢ-weighted algebraic residuals), rank 2
 * enforced; unit norm. `null` with fewer than 8 positive weights.
 */
export function eightPoint(
  points0: Points,
  points1: Points,
  weights?: ArrayLike<number>,
): Mat3 | null {
  const n = points0.length / 2;
  if (points1.length !== points0.length) throw new RangeError("eightPoint: lengths differ");
  const { data, norm0, norm1 } = normalizeMatches(points0, points1);
  const F = eightPointNormalized(data, weights ?? new Float64Array(n).fill(1));
  return F && denormalize(F, norm0, norm1);
}

// ---------------------------------------------------------------------------
// Errors and scores

/**
 * Squared Sampson distance of match i of interleaved `data` to F:
 * `(x1ᵀFx0)² / (s1²((Fx0)₁² + (Fx0)₂²) + s0²((Fᵀx1)₁² + (Fᵀx1)₂²))`. With data
 * normalised by scales s0, s1 (x̂ = s (x − c)) this is the distance in pixels².
 */
function sampsonAt(
  F: ArrayLike<number>,
  data: ArrayLike<number>,
  i: number,
  s0sq: number,
  s1sq: number,
) {
  const x0 = data[4 * i], y0 = data[4 * i + 1], x1 = data[4 * i + 2], y1 = data[4 * i + 3];
  const a = F[0] * x0 + F[1] * y0 + F[2], b = F[3] * x0 + F[4] * y0 + F[5];
  const c = F[6] * x0 + F[7] * y0 + F[8];
  const d = F[0] * x1 + F[3] * y1 + F[6], e = F[1] * x1 + F[4] * y1 + F[7];
  const r = x1 * a + y1 * b + c;
  return (r * r) / (s1sq * (a * a + b * b) + s0sq * (d * d + e * e));
}

/**
 * Squared Sampson distances (pixels²) of N matches to F (`x1ᵀ F x0 = 0`), as
 * OpenCV's `sampsonDistance`: the first-order geometric error of each match.
 */
export function sampsonError(F: ArrayLike<number>, points0: Points, points1: Points): Float64Array {
  const n = points0.length / 2;
  const data = new Float64Array(4 * n);
  for (let i = 0; i < n; i++) {
    data[4 * i] = points0[2 * i];
    data[4 * i + 1] = points0[2 * i + 1];
    data[4 * i + 2] = points1[2 * i];
    data[4 * i + 3] = points1[2 * i + 1];
  }
  return Float64Array.from({ length: n }, (_, i) => sampsonAt(F, data, i, 1, 1));
}

/** erfc(x) for x ≥ 0, Abramowitz–Stegun 7.1.26 (absolute error < 1.5e-7); kernels/ransac.wgsl uses the same. */
function erfc(x: number): number {
  const t = 1 / (1 + 0.3275911 * x);
  const p = t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return p * Math.exp(-x * x);
}

/** Upper incomplete gamma Γ(3/2, u). */
function upperGamma15(u: number): number {
  const s = Math.sqrt(u);
  return s * Math.exp(-u) + (Math.sqrt(Math.PI) / 2) * erfc(s);
}

/** Lower incomplete gamma γ(5/2, u) = Γ(5/2) − 3/2 Γ(3/2, u) − u^{3/2} e^{−u}. */
function lowerGamma25(u: number): number {
  return 0.75 * Math.sqrt(Math.PI) - 1.5 * upperGamma15(u) - u * Math.sqrt(u) * Math.exp(-u);
}

const U_K = (MAGSAC_K * MAGSAC_K) / 2;
const GAMMA15_K = upperGamma15(U_K);
const LOSS_MAX = lowerGamma25(U_K);

/** MAGSAC++ constants the GPU scorer takes as parameters: k²/2, Γ(3/2, k²/2), γ(5/2, k²/2). */
export const MAGSAC_CONSTANTS = { uk: U_K, gammaK: GAMMA15_K, lossMax: LOSS_MAX } as const;

/**
 * MAGSAC++ (Barath et al. 2020) per-match quality for 4-DoF residuals:
 * `1 − ρ(r)/ρ(r_max)` for r < r_max (the marginalised loss ρ, normalised), 0
 * beyond. `r2` is the squared Sampson distance, `max2` the squared maxThreshold.
 */
export function magsacQuality(r2: number, max2: number): number {
  if (!(r2 < max2)) return 0;
  const u = (r2 * U_K) / max2; // r² / (2σ²) with σ = maxThreshold / k
  return 1 - (lowerGamma25(u) + u * (upperGamma15(u) - GAMMA15_K)) / LOSS_MAX;
}

/** MAGSAC++ IRLS weight of a match (∝ Γ(3/2, u) − Γ(3/2, k²/2)), 1 at r = 0, 0 from r_max on. */
export function magsacWeight(r2: number, max2: number): number {
  if (!(r2 < max2)) return 0;
  return (upperGamma15((r2 * U_K) / max2) - GAMMA15_K) / (Math.sqrt(Math.PI) / 2 - GAMMA15_K);
}

/**
 * {@link magsacWeight} and {@link magsacQuality} tabulated on t = r / r_max ∈
 * [0, 1] (`MAGSAC_TABLE_SIZE` + 1 points each) and linearly interpolated, for
 * the local optimisation, which evaluates them for every match at every step.
 * In t both are smooth (in r² they have a √ term at 0), so the interpolation
 * error, h²/8 · max|f''| with h = 1 / MAGSAC_TABLE_SIZE, is about 1e-9
 * (tests/fundamental_test.ts), below the 1.5e-7 of the erfc approximation
 * both are computed with.
 */
const MAGSAC_TABLE_SIZE = 16384;
const [WEIGHT_TABLE, QUALITY_TABLE] = [magsacWeight, magsacQuality].map((f) =>
  Float64Array.from({ length: MAGSAC_TABLE_SIZE + 1 }, (_, i) => {
    const t = i / MAGSAC_TABLE_SIZE;
    return i === MAGSAC_TABLE_SIZE ? 0 : f(t * t, 1);
  })
);

function tabulated(table: Float64Array, r2: number, max2: number): number {
  if (!(r2 < max2)) return 0;
  const x = Math.sqrt(r2 / max2) * MAGSAC_TABLE_SIZE;
  const i = Math.floor(x);
  return table[i] + (x - i) * (table[i + 1] - table[i]);
}

/** {@link magsacWeight} from its table (within about 1e-9). */
export function magsacWeightTabulated(r2: number, max2: number): number {
  return tabulated(WEIGHT_TABLE, r2, max2);
}

/** {@link magsacQuality} from its table (within about 1e-9). */
export function magsacQualityTabulated(r2: number, max2: number): number {
  return tabulated(QUALITY_TABLE, r2, max2);
}

/** Score of one hypothesis: summed quality (higher is better) and inliers below the threshold. */
export interface Score {
  score: number;
  inliers: number;
}

/** Scores F (of normalised coordinates) on all matches with the options' loss. */
export function scoreModel(F: ArrayLike<number>, p: PreparedMatches, o: ResolvedOptions): Score {
  return evaluateModel(F, p, o, null);
}

/**
 * One pass of F over all matches: its {@link Score} and, into `weights` when
 * given, each match's weight for the next step of the local optimisation
 * ({@link refineFundamental}): its MAGSAC++ weight (MSAC: 1 for inliers)
 * divided by the squared gradient of its algebraic residual, which is the
 * denominator of its Sampson distance (0 where either is 0).
 */
function evaluateModel(
  F: ArrayLike<number>,
  p: PreparedMatches,
  o: ResolvedOptions,
  weights: Float64Array | null,
): Score {
  const s0sq = p.norm0.scale ** 2, s1sq = p.norm1.scale ** 2;
  const t2 = o.threshold ** 2, m2 = o.maxThreshold ** 2, magsac = o.score === "magsac";
  const d = p.data;
  let score = 0, inliers = 0;
  for (let i = 0; i < p.n; i++) {
    // sampsonAt, keeping the denominator for the weight.
    const x0 = d[4 * i], y0 = d[4 * i + 1], x1 = d[4 * i + 2], y1 = d[4 * i + 3];
    const a = F[0] * x0 + F[1] * y0 + F[2], b = F[3] * x0 + F[4] * y0 + F[5];
    const c = F[6] * x0 + F[7] * y0 + F[8];
    const e = F[0] * x1 + F[3] * y1 + F[6], g = F[1] * x1 + F[4] * y1 + F[7];
    const r = x1 * a + y1 * b + c;
    const grad2 = s1sq * (a * a + b * b) + s0sq * (e * e + g * g);
    const r2 = (r * r) / grad2;
    if (r2 < t2) inliers++;
    score += magsac ? magsacQualityTabulated(r2, m2) : Math.max(0, 1 - r2 / t2);
    if (weights) {
      const robust = magsac ? magsacWeightTabulated(r2, m2) : r2 < t2 ? 1 : 0;
      weights[i] = robust > 0 && grad2 > 0 ? robust / grad2 : 0;
    }
  }
  return { score, inliers };
}

/**
 * Oriented epipolar constraint (Chum, Werner, Matas 2004): the epipole e1 of
 * image 1 (e1ᵀF = 0) and every sample match must give the same sign of
 * (e1 × x1) · (F x0). Rejects models no pair of real cameras can produce.
 */
function orientationConsistent(F: ArrayLike<number>, data: Float64Array, idx: ArrayLike<number>) {
  // e1 ⟂ every column of F: the largest cross product of two columns.
  let e = [0, 0, 0], best = -1;
  for (const [i, j] of [[0, 1], [0, 2], [1, 2]]) {
    const c = [
      F[3 + i] * F[6 + j] - F[6 + i] * F[3 + j],
      F[6 + i] * F[j] - F[i] * F[6 + j],
      F[i] * F[3 + j] - F[3 + i] * F[j],
    ];
    const nrm = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
    if (nrm > best) [best, e] = [nrm, c];
  }
  let sign = 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    const x0 = data[4 * i], y0 = data[4 * i + 1], x1 = data[4 * i + 2], y1 = data[4 * i + 3];
    const l = [
      F[0] * x0 + F[1] * y0 + F[2],
      F[3] * x0 + F[4] * y0 + F[5],
      F[6] * x0 + F[7] * y0 + F[8],
    ];
    const ex = [e[1] - e[2] * y1, e[2] * x1 - e[0], e[0] * y1 - e[1] * x1];
    const s = ex[0] * l[0] + ex[1] * l[1] + ex[2] * l[2];
    if (sign === 0) sign = Math.sign(s);
    else if (s * sign < 0) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Schedule, local optimisation, result

/** Sample size of a solver. */
export function sampleSize(solver: FundamentalSolver): number {
  return solver === "7pt" ? 7 : 8;
}

/**
 * Number of samples needed to draw one all-inlier sample of size m with
 * probability `confidence` at inlier ratio w: log(1 − confidence) / log(1 − wᵐ).
 */
export function requiredIterations(w: number, m: number, confidence: number): number {
  const good = w ** m;
  if (good <= 0) return Infinity;
  if (good >= 1) return 0;
  return Math.log(1 - confidence) / Math.log(1 - good);
}

/**
 * The batch schedule both estimators follow: yields `[firstHypothesis, count]`,
 * receives the inlier count of the best model so far, and stops on the
 * confidence bound or at maxIterations. Returns the reason and the number drawn.
 */
export function* batches(
  n: number,
  o: ResolvedOptions,
): Generator<[number, number], { stop: StopReason; hypotheses: number }, number> {
  const m = sampleSize(o.solver);
  let tried = 0;
  for (;;) {
    const count = Math.min(o.batchSize, o.maxIterations - tried);
    const inliers = yield [tried, count];
    tried += count;
    if (tried >= requiredIterations(inliers / n, m, o.confidence)) {
      return { stop: "confidence", hypotheses: tried };
    }
    if (tried >= o.maxIterations) return { stop: "max-iterations", hypotheses: tried };
  }
}

/** Relative score gain under which the local optimisation has converged. */
export const LO_CONVERGED = 1e-6;

/** A model (normalised coordinates) and its score. */
export interface ScoredModel {
  F: Float64Array;
  score: number;
}

/**
 * Local optimisation of a winning F (normalised coordinates): iteratively
 * reweighted 8-point, each match weighted by its MAGSAC++ weight (MSAC: 1 for
 * inliers) divided by the squared gradient of its algebraic residual, so that
 * the weighted algebraic error approximates the Sampson error. A step is
 * kept when it improves the score; the iteration stops at the first that does
 * not, or that improves it by less than {@link LO_CONVERGED} (relative).
 * Returns the last kept F and its score. The pass that scores a step also
 * computes the weights of the next one.
 */
export function refineFundamental(
  F0: ArrayLike<number>,
  p: PreparedMatches,
  o: ResolvedOptions,
  iterations: number,
): ScoredModel {
  const w = new Float64Array(p.n);
  let best: Float64Array = Float64Array.from(F0);
  let bestScore = evaluateModel(best, p, o, iterations > 0 ? w : null).score;
  for (let it = 0; it < iterations; it++) {
    const F = eightPointNormalized(p.data, w);
    if (!F) break;
    const s = evaluateModel(F, p, o, it + 1 < iterations ? w : null).score;
    if (!(s > bestScore)) break;
    const converged = s - bestScore <= LO_CONVERGED * Math.abs(bestScore);
    best = F;
    bestScore = s;
    if (converged) break;
  }
  return { F: best, score: bestScore };
}

/** Squared transfer distance in image 1, pixels², of match i under H (normalised coordinates). */
function transferError(H: ArrayLike<number>, p: PreparedMatches, i: number): number {
  const d = p.data, x0 = d[4 * i], y0 = d[4 * i + 1];
  const w = H[6] * x0 + H[7] * y0 + H[8];
  const u = (H[0] * x0 + H[1] * y0 + H[2]) / w - d[4 * i + 2];
  const v = (H[3] * x0 + H[4] * y0 + H[5]) / w - d[4 * i + 3];
  return (u * u + v * v) / p.norm1.scale ** 2;
}

/**
 * The homography of the plane through matches i, j, k compatible with F
 * (Hartley–Zisserman Result 13.6): `H = A − e1 (M⁻¹ b)ᵀ`, `A = [e1]ₓ F`, with e1
 * the epipole of image 1, M the rows x0ᵢᵀ, bᵢ = (x1ᵢ × A x0ᵢ)ᵀ(x1ᵢ × e1) / ‖x1ᵢ × e1‖².
 */
function homographyFromF(
  F: ArrayLike<number>,
  e1: ArrayLike<number>,
  p: PreparedMatches,
  tri: number[],
): Mat3 | null {
  const cross = (a: ArrayLike<number>, b: ArrayLike<number>) => [
    a[1] * b[2] - a[2] * b[1],
    a[2] * b[0] - a[0] * b[2],
    a[0] * b[1] - a[1] * b[0],
  ];
  const ex = Float64Array.of(0, -e1[2], e1[1], e1[2], 0, -e1[0], -e1[1], e1[0], 0);
  const A = mul3(ex, F);
  const M = new Float64Array(9), b = [0, 0, 0];
  tri.forEach((i, r) => {
    const x0 = [p.data[4 * i], p.data[4 * i + 1], 1],
      x1 = [p.data[4 * i + 2], p.data[4 * i + 3], 1];
    M.set(x0, 3 * r);
    const c1 = cross(x1, mulVec3(A, x0)), c2 = cross(x1, e1);
    b[r] = (c1[0] * c2[0] + c1[1] * c2[1] + c1[2] * c2[2]) / (c2[0] ** 2 + c2[1] ** 2 + c2[2] ** 2);
  });
  const det = det3(M);
  if (!(Math.abs(det) > 1e-12)) return null;
  // M⁻¹ b by Cramer's rule.
  const v = [0, 1, 2].map((c) => {
    const Mc = Float64Array.from(M);
    for (let r = 0; r < 3; r++) Mc[3 * r + c] = b[r];
    return det3(Mc) / det;
  });
  return Float64Array.from(A, (a, k) => a - e1[Math.floor(k / 3)] * v[k % 3]);
}

/** Triplets of a 7-match sample whose plane DEGENSAC tests (Chum, Werner, Matas 2005). */
const DEGENSAC_TRIPLETS = [[0, 1, 2], [3, 4, 5], [0, 1, 6], [3, 4, 6], [2, 5, 6]];
/** Squared transfer distance (pixels²) for a match to lie on a plane: OpenCV's 5 px². */
const PLANE_THRESHOLD2 = 5;
/** Parallax pairs tried by the plane-and-parallax recovery. */
const PARALLAX_SAMPLES = 300;

/**
 * DEGENSAC's recovery from a plane-degenerate winner: when ≥ 5 of the 7
 * matches of the winning sample lie on a plane H compatible with F, F may be
 * any member of the pencil [e]ₓH. Then F is re-estimated by plane and parallax,
 * `F = [e1]ₓ H` with e1 the meeting point of the lines (H x0) × x1 of two
 * off-plane matches, over random pairs; the best-scoring model is returned
 * (the input when none scores higher).
 */
export function recoverFromPlane(
  F: Float64Array,
  sample: ArrayLike<number>,
  p: PreparedMatches,
  o: ResolvedOptions,
): Float64Array {
  const { U } = svd3(F);
  const e1 = [U[2], U[5], U[8]]; // left null vector: e1ᵀ F = 0
  let H: Mat3 | null = null;
  for (const tri of DEGENSAC_TRIPLETS) {
    const h = homographyFromF(F, e1, p, tri.map((k) => sample[k]));
    if (!h) continue;
    let onPlane = 0;
    for (let k = 0; k < 7; k++) if (transferError(h, p, sample[k]) < PLANE_THRESHOLD2) onPlane++;
    if (onPlane >= 5) {
      H = h;
      break;
    }
  }
  if (!H) return F;
  const off: number[] = [];
  for (let i = 0; i < p.n; i++) if (!(transferError(H, p, i) < PLANE_THRESHOLD2)) off.push(i);
  if (off.length < 2) return F;
  const lines = off.map((i) => {
    const hx = mulVec3(H!, [p.data[4 * i], p.data[4 * i + 1], 1]);
    const x = p.data[4 * i + 2], y = p.data[4 * i + 3];
    return [hx[1] - y * hx[2], x * hx[2] - hx[0], y * hx[0] - x * hx[1]];
  });
  let best = F, bestScore = scoreModel(F, p, o).score;
  const pair = new Uint32Array(2);
  for (let k = 0; k < PARALLAX_SAMPLES; k++) {
    drawSample(o.seed ^ 0x5bd1e995, k, off.length, 2, pair);
    const [a, b] = [lines[pair[0]], lines[pair[1]]];
    const e = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    const ex = Float64Array.of(0, -e[2], e[1], e[2], 0, -e[0], -e[1], e[0], 0);
    const Fk = mul3(ex, H);
    if (!(frobenius(Fk) > 0)) continue;
    const s = scoreModel(Fk, p, o).score;
    if (s > bestScore) [best, bestScore] = [normalizeSign(Fk), s];
  }
  return best;
}

/** A hypothesis that won its segment of a batch: its model (normalised coordinates) and index. */
export interface Candidate extends Score {
  F: Float64Array;
  h: number;
}

/** Segments each batch is split into; each segment's best hypothesis becomes a candidate. */
export const SEGMENTS_PER_BATCH = 8;
/** Candidates kept (highest scores over all batches) for local optimisation. */
export const LO_CANDIDATES = 8;
/** Local-optimisation iterations that screen the candidates; the best one then gets `loIterations`. */
export const SCREENING_LO_ITERATIONS = 10;

/** `[first, count]` of the segments of a batch (at most {@link SEGMENTS_PER_BATCH}). */
export function segments(first: number, count: number): [number, number][] {
  const size = Math.ceil(count / SEGMENTS_PER_BATCH);
  const out: [number, number][] = [];
  for (let s = first; s < first + count; s += size) {
    out.push([s, Math.min(size, first + count - s)]);
  }
  return out;
}

/** Adds candidates to a pool, keeping the {@link LO_CANDIDATES} best (score, then lower index). */
export function keepBest(pool: Candidate[], add: Candidate[]): Candidate[] {
  return [...pool, ...add].sort((a, b) => b.score - a.score || a.h - b.h).slice(0, LO_CANDIDATES);
}

/**
 * The candidates after DEGENSAC's plane recovery ({@link recoverFromPlane}),
 * each with the sample of its hypothesis redrawn: the models both estimators
 * screen by a short local optimisation.
 */
export function recoverCandidates(
  candidates: Candidate[],
  p: PreparedMatches,
  o: ResolvedOptions,
): Float64Array[] {
  const sample = new Uint32Array(sampleSize(o.solver));
  return candidates.map((c) => {
    drawSample(o.seed, c.h, p.n, sample.length, sample);
    return recoverFromPlane(c.F, sample, p, o);
  });
}

/**
 * The screening of {@link estimateFundamentalCpu}: {@link SCREENING_LO_ITERATIONS}
 * steps of local optimisation of each model in float64 (the GPU estimator runs
 * the same steps in f32, `screen` in kernels/ransac.wgsl).
 */
export function screenCandidates(
  models: Float64Array[],
  p: PreparedMatches,
  o: ResolvedOptions,
): ScoredModel[] {
  return models.map((F) => refineFundamental(F, p, o, SCREENING_LO_ITERATIONS));
}

/**
 * From the screened candidates to the result: the one with the best score
 * (the first among equals) is optimised further in float64, made rank 2,
 * brought back to pixels and thresholded into the inlier mask. No candidates:
 * the "no-valid-model" failure.
 */
export function finishEstimate(
  screened: ScoredModel[],
  p: PreparedMatches,
  o: ResolvedOptions,
  run: { stop: StopReason; hypotheses: number },
): FundamentalResult {
  if (!screened.length) {
    return { ...failure(p.n, "no-valid-model", "no sample gave a valid model"), ...run };
  }
  let best = screened[0];
  for (const c of screened) if (c.score > best.score) best = c;
  const F = enforceRank2(refineFundamental(best.F, p, o, o.loIterations).F);
  const s0sq = p.norm0.scale ** 2, s1sq = p.norm1.scale ** 2, t2 = o.threshold ** 2;
  const inliers = new Uint8Array(p.n);
  let inlierCount = 0;
  for (let i = 0; i < p.n; i++) {
    if (sampsonAt(F, p.data, i, s0sq, s1sq) < t2) {
      inliers[i] = 1;
      inlierCount++;
    }
  }
  return { F: denormalize(F, p.norm0, p.norm1), inliers, inlierCount, ...run };
}

/** The models of hypothesis h (normalised coordinates), after the sample and orientation checks. */
export function hypothesisModels(
  p: PreparedMatches,
  o: ResolvedOptions,
  h: number,
  idx: Uint32Array,
): Float64Array[] {
  drawSample(o.seed, h, p.n, idx.length, idx);
  const models = o.solver === "7pt" ? sevenPointNormalized(p.data, idx) : (() => {
    const w = new Float64Array(p.n);
    for (const i of idx) w[i] = 1;
    const F = eightPointNormalized(p.data, w);
    return F ? [F] : [];
  })();
  return models.filter((F) => orientationConsistent(F, p.data, idx));
}

/**
 * Robust fundamental-matrix estimation in float64 on the CPU: the reference of
 * the GPU estimator `estimateFundamental` (same samples for the same seed, same
 * scoring, schedule, local optimisation), usable where no WebGPU adapter exists.
 * Its cost is O(hypotheses × matches) in JavaScript: fine for a few thousand
 * hypotheses, slow for 10⁵.
 *
 * @param points0 matches in image 0, `[x, y, …]` pixels
 * @param points1 the same matches in image 1
 * @param options see {@link RansacOptions} for the defaults
 */
export function estimateFundamentalCpu(
  points0: Points,
  points1: Points,
  options: RansacOptions = {},
): FundamentalResult {
  const o = resolveOptions(options);
  const p = prepareMatches(points0, points1);
  if (!("data" in p)) return p;
  const idx = new Uint32Array(sampleSize(o.solver));
  let pool: Candidate[] = [];
  const schedule = batches(p.n, o);
  let step = schedule.next();
  while (!step.done) {
    const winners: Candidate[] = [];
    for (const [first, count] of segments(...step.value)) {
      let win: Candidate | null = null;
      for (let h = first; h < first + count; h++) {
        for (const F of hypothesisModels(p, o, h, idx)) {
          const s = scoreModel(F, p, o);
          if (!win || s.score > win.score) win = { F, ...s, h };
        }
      }
      if (win) winners.push(win);
    }
    pool = keepBest(pool, winners);
    step = schedule.next(pool[0]?.inliers ?? 0);
  }
  return finishEstimate(screenCandidates(recoverCandidates(pool, p, o), p, o), p, o, step.value);
}
