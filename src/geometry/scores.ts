/**
 * The errors of a match (the Sampson distance under F, the symmetric transfer
 * error under H) and the scores of a model over all matches: MAGSAC++
 * (marginalised over noise levels, closed forms and tables) or MSAC
 * (truncated quadratic); also each match's weight for the local
 * optimisation. The kernels of kernels/ransac*.wgsl score the same way in f32.
 * @module
 */
import { adjugate3 } from "./linalg.ts";
import type { PreparedMatches } from "./matches.ts";
import type { Points, ResolvedOptions } from "./ransac_options.ts";

/**
 * √χ²₀.₉₉(4): MAGSAC++'s quantile turning σ_max into a residual bound (4 DoF:
 * a match is a point of 4 coordinates, for F and for H).
 */
export const MAGSAC_K = 3.6437211935036444;

/**
 * Squared Sampson distance of match i of interleaved `data` to F:
 * `(x1ᵀFx0)² / (s1²((Fx0)₁² + (Fx0)₂²) + s0²((Fᵀx1)₁² + (Fᵀx1)₂²))`. With data
 * normalised by scales s0, s1 (x̂ = s (x − c)) this is the distance in pixels².
 */
export function sampsonAt(
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
  const n = points0.length / 2, data = interleave(points0, points1);
  return Float64Array.from({ length: n }, (_, i) => sampsonAt(F, data, i, 1, 1));
}

/** Two images' points interleaved as `[x0, y0, x1, y1, …]` (pixels, not normalised). */
function interleave(points0: Points, points1: Points): Float64Array {
  const n = points0.length / 2, data = new Float64Array(4 * n);
  for (let i = 0; i < n; i++) {
    data[4 * i] = points0[2 * i];
    data[4 * i + 1] = points0[2 * i + 1];
    data[4 * i + 2] = points1[2 * i];
    data[4 * i + 3] = points1[2 * i + 1];
  }
  return data;
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

/** The loss of a match of squared error `r2`: its contribution to a model's score. */
function quality(r2: number, o: ResolvedOptions): number {
  return o.score === "magsac"
    ? magsacQualityTabulated(r2, o.maxThreshold ** 2)
    : Math.max(0, 1 - r2 / o.threshold ** 2);
}

/** The robust weight of a match of squared error `r2`: MAGSAC++'s, or 1 for an MSAC inlier. */
function robustWeight(r2: number, o: ResolvedOptions): number {
  return o.score === "magsac"
    ? magsacWeightTabulated(r2, o.maxThreshold ** 2)
    : r2 < o.threshold ** 2
    ? 1
    : 0;
}

/** Scores F (of normalised coordinates) on all matches with the options' loss. */
export function scoreModel(F: ArrayLike<number>, p: PreparedMatches, o: ResolvedOptions): Score {
  return evaluateFundamental(F, p, o, null);
}

/**
 * One pass of F over all matches: its {@link Score} and, into `weights` when
 * given, each match's weight for the next step of the local optimisation: its
 * MAGSAC++ weight (MSAC: 1 for inliers) divided by the squared gradient of
 * its algebraic residual, which is the denominator of its Sampson distance
 * (0 where either is 0), so that the weighted algebraic error of the 8-point
 * fit approximates the Sampson error.
 */
export function evaluateFundamental(
  F: ArrayLike<number>,
  p: PreparedMatches,
  o: ResolvedOptions,
  weights: Float64Array | null,
): Score {
  const s0sq = p.norm0.scale ** 2, s1sq = p.norm1.scale ** 2, t2 = o.threshold ** 2;
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
    score += quality(r2, o);
    if (weights) {
      const robust = robustWeight(r2, o);
      weights[i] = robust > 0 && grad2 > 0 ? robust / grad2 : 0;
    }
  }
  return { score, inliers };
}

/**
 * Squared symmetric transfer error of match i of interleaved `data` under H
 * (`x1 ~ H x0`), with `Hi` any multiple of H⁻¹: the mean of the squared
 * distances `‖π(H x0) − x1‖²` in image 1 and `‖π(H⁻¹ x1) − x0‖²` in image 0.
 * With data normalised by scales s0, s1 this is in pixels²; a point sent to
 * infinity gives `Infinity`.
 */
export function transferAt(
  H: ArrayLike<number>,
  Hi: ArrayLike<number>,
  data: ArrayLike<number>,
  i: number,
  s0sq: number,
  s1sq: number,
): number {
  const x0 = data[4 * i], y0 = data[4 * i + 1], x1 = data[4 * i + 2], y1 = data[4 * i + 3];
  const w = H[6] * x0 + H[7] * y0 + H[8], wi = Hi[6] * x1 + Hi[7] * y1 + Hi[8];
  if (w === 0 || wi === 0) return Infinity;
  const u = (H[0] * x0 + H[1] * y0 + H[2]) / w - x1, v = (H[3] * x0 + H[4] * y0 + H[5]) / w - y1;
  const ui = (Hi[0] * x1 + Hi[1] * y1 + Hi[2]) / wi - x0;
  const vi = (Hi[3] * x1 + Hi[4] * y1 + Hi[5]) / wi - y0;
  return 0.5 * ((u * u + v * v) / s1sq + (ui * ui + vi * vi) / s0sq);
}

/**
 * Squared symmetric transfer errors (pixels²) of N matches under H
 * (`x1 ~ H x0`, pixels).
 */
export function transferError(
  H: ArrayLike<number>,
  points0: Points,
  points1: Points,
): Float64Array {
  const n = points0.length / 2, data = interleave(points0, points1), Hi = adjugate3(H);
  return Float64Array.from({ length: n }, (_, i) => transferAt(H, Hi, data, i, 1, 1));
}

/**
 * One pass of H over all matches: its {@link Score} (symmetric transfer
 * error) and, into `weights` when given, each match's weight for the next
 * weighted DLT step: its MAGSAC++ weight (MSAC: 1 for inliers) divided by the
 * square of its projective depth `(H x0)₃`, so that the weighted algebraic
 * error of the DLT approximates the forward transfer error.
 */
export function evaluateHomography(
  H: ArrayLike<number>,
  p: PreparedMatches,
  o: ResolvedOptions,
  weights: Float64Array | null,
): Score {
  const s0sq = p.norm0.scale ** 2, s1sq = p.norm1.scale ** 2, t2 = o.threshold ** 2;
  const Hi = adjugate3(H), d = p.data;
  let score = 0, inliers = 0;
  for (let i = 0; i < p.n; i++) {
    const r2 = transferAt(H, Hi, d, i, s0sq, s1sq);
    if (r2 < t2) inliers++;
    score += quality(r2, o);
    if (weights) {
      const w = H[6] * d[4 * i] + H[7] * d[4 * i + 1] + H[8];
      const robust = robustWeight(r2, o);
      weights[i] = robust > 0 && w !== 0 ? robust / (w * w) : 0;
    }
  }
  return { score, inliers };
}
