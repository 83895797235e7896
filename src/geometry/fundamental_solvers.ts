/**
 * Minimal and least-squares solvers of the fundamental matrix in float64:
 * the 7-point (Hartley–Zisserman 11.1.2) and normalised 8-point (Hartley
 * 1997) algorithms, rank-2 enforcement, denormalisation, and the oriented
 * epipolar constraint that rejects impossible models; and F's
 * {@link ModelKind} for the robust loop. kernels/ransac.wgsl solves the same
 * problems in f32.
 * @module
 */
import {
  det3,
  type Mat3,
  mul3,
  normalizeSign,
  nullSpace,
  svd3,
  symmetricNullVector,
  transpose3,
} from "./linalg.ts";
import { recoverFromPlane } from "./degensac.ts";
import { type Normalization, normalizeMatches, type PreparedMatches } from "./matches.ts";
import type { ModelKind } from "./model_kind.ts";
import type { FundamentalSolver, Points } from "./ransac_options.ts";
import { evaluateFundamental, sampsonAt } from "./scores.ts";

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
export function sevenPointNormalized(data: Float64Array, idx: ArrayLike<number>): Float64Array[] {
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
export function eightPointNormalized(
  data: Float64Array,
  weights: ArrayLike<number>,
): Float64Array | null {
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

/**
 * Oriented epipolar constraint (Chum, Werner, Matas 2004): the epipole e1 of
 * image 1 (e1ᵀF = 0) and every sample match must give the same sign of
 * (e1 × x1) · (F x0). Rejects models no pair of real cameras can produce.
 */
export function orientationConsistent(
  F: ArrayLike<number>,
  data: Float64Array,
  idx: ArrayLike<number>,
) {
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

/**
 * The fundamental matrix as a {@link ModelKind}: hypotheses from the 7-point
 * (up to 3 per sample) or normalised 8-point solver, kept when they pass the
 * oriented epipolar constraint on their sample; the Sampson error; the
 * weighted 8-point fit for local optimisation; DEGENSAC's plane recovery;
 * rank 2 at the end. At least 8 matches, whichever the solver.
 */
export function fundamentalKind(solver: FundamentalSolver): ModelKind {
  const sampleSize = solver === "7pt" ? 7 : 8;
  return {
    name: "fundamental matrix",
    sampleSize,
    minimumMatches: 8,
    solve(p: PreparedMatches, idx: ArrayLike<number>): Float64Array[] {
      const models = solver === "7pt" ? sevenPointNormalized(p.data, idx) : (() => {
        const w = new Float64Array(p.n);
        for (let k = 0; k < idx.length; k++) w[idx[k]] = 1;
        const F = eightPointNormalized(p.data, w);
        return F ? [F] : [];
      })();
      return models.filter((F) => orientationConsistent(F, p.data, idx));
    },
    evaluate: evaluateFundamental,
    fit: (p, weights) => eightPointNormalized(p.data, weights),
    error: (F, p, i) => sampsonAt(F, p.data, i, p.norm0.scale ** 2, p.norm1.scale ** 2),
    recover: recoverFromPlane,
    finish: enforceRank2,
    denormalize,
  };
}
