/**
 * Solvers of the homography in float64: the normalised 4-point DLT
 * (Hartley–Zisserman 4.1, 4.4) with its sample checks, the weighted DLT of
 * the local optimisation, denormalisation; and H's {@link ModelKind} for the
 * robust loop. kernels/ransac_homography.wgsl solves the same problem in f32.
 *
 * Convention: `x1 ~ H x0`, H row-major.
 * @module
 */
import {
  adjugate3,
  type Mat3,
  mul3,
  normalizeSign,
  nullSpace,
  symmetricNullVector,
} from "./linalg.ts";
import { type Normalization, normalizeMatches, type PreparedMatches } from "./matches.ts";
import type { ModelKind } from "./model_kind.ts";
import type { Points } from "./ransac_options.ts";
import { evaluateHomography, transferAt } from "./scores.ts";

/**
 * The two rows of the DLT constraint `x1 × (H x0) = 0` of one match, as dot
 * products with H's 9 entries (row-major), into `out` at `o` and `o + 9`.
 */
function dltRows(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  out: Float64Array,
  o: number,
): void {
  out.set([x0, y0, 1, 0, 0, 0, -x1 * x0, -x1 * y0, -x1], o);
  out.set([0, 0, 0, x0, y0, 1, -y1 * x0, -y1 * y0, -y1], o + 9);
}

/** Twice the signed area of the triangle (a, b, c) of 2-D points. */
function orientation(ax: number, ay: number, bx: number, by: number, cx: number, cy: number) {
  return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

/**
 * Whether a 4-match sample of normalised matches can give a homography of
 * real views of a plane: no three of its points on a line in either image
 * (such samples give a singular system), and the four triangles of each
 * image with the same orientation as in the other (a plane seen from its
 * front by both cameras is not mirrored; OpenCV's sample check).
 */
export function goodHomographySample(data: ArrayLike<number>, idx: ArrayLike<number>): boolean {
  for (const [a, b, c] of [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]) {
    const [i, j, k] = [idx[a], idx[b], idx[c]];
    const o0 = orientation(
      data[4 * i],
      data[4 * i + 1],
      data[4 * j],
      data[4 * j + 1],
      data[4 * k],
      data[4 * k + 1],
    );
    const o1 = orientation(
      data[4 * i + 2],
      data[4 * i + 3],
      data[4 * j + 2],
      data[4 * j + 3],
      data[4 * k + 2],
      data[4 * k + 3],
    );
    // Normalised coordinates are O(1) (mean distance √2): 1e-6 is a numerically flat triangle.
    if (!(Math.abs(o0) > 1e-6 && Math.abs(o1) > 1e-6) || o0 * o1 < 0) return false;
  }
  return true;
}

/** H of 4 normalised matches at `idx` (the null vector of the 8×9 DLT system), or `null`. */
export function homographyNormalized(
  data: Float64Array,
  idx: ArrayLike<number>,
): Float64Array | null {
  const a = new Float64Array(72);
  for (let r = 0; r < 4; r++) {
    const i = idx[r];
    dltRows(data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3], a, 18 * r);
  }
  const { vectors, singularValues } = nullSpace(a, 8, 9, 1);
  // Rank < 8: the sample fixes no homography.
  if (singularValues[7] < 1e-10 * singularValues[0]) return null;
  return vectors[0];
}

/**
 * The weighted DLT: the H minimising Σ wᵢ ‖rowsᵢ · h‖² over the matches with
 * positive weight, unit norm; `null` with fewer than 4 of them.
 */
export function weightedHomography(
  data: Float64Array,
  weights: ArrayLike<number>,
): Float64Array | null {
  const ata = new Float64Array(81), rows = new Float64Array(18);
  let used = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!(w > 0)) continue;
    used++;
    dltRows(data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3], rows, 0);
    for (let r = 0; r < 2; r++) {
      for (let j = 0; j < 9; j++) {
        const wj = w * rows[9 * r + j];
        if (wj === 0) continue;
        for (let k = j; k < 9; k++) ata[9 * j + k] += wj * rows[9 * r + k];
      }
    }
  }
  if (used < 4) return null;
  for (let j = 0; j < 9; j++) for (let k = 0; k < j; k++) ata[9 * j + k] = ata[9 * k + j];
  return symmetricNullVector(ata, 9);
}

/** `T1⁻¹ Ĥ T0`: H of normalised coordinates back to pixels, unit norm, sign fixed. */
export function denormalizeHomography(
  Hn: ArrayLike<number>,
  norm0: Normalization,
  norm1: Normalization,
): Mat3 {
  return normalizeSign(mul3(adjugate3(norm1.T), mul3(Hn, norm0.T)));
}

/**
 * The normalised 4-point DLT on exactly 4 matches (pixels): H with
 * `x1 ~ H x0`, unit norm, or `null` when the sample fixes none (three points
 * on a line, a mirrored configuration).
 */
export function fourPoint(points0: Points, points1: Points): Mat3 | null {
  if (points0.length !== 8 || points1.length !== 8) {
    throw new RangeError("fourPoint needs exactly 4 matches");
  }
  const { data, norm0, norm1 } = normalizeMatches(points0, points1);
  const idx = [0, 1, 2, 3];
  if (!goodHomographySample(data, idx)) return null;
  const H = homographyNormalized(data, idx);
  return H && denormalizeHomography(H, norm0, norm1);
}

/**
 * The homography as a {@link ModelKind}: a hypothesis per 4-match sample
 * that passes {@link goodHomographySample}, the symmetric transfer error, the
 * weighted DLT for local optimisation. At least 4 matches.
 */
export const HOMOGRAPHY: ModelKind = {
  name: "homography",
  sampleSize: 4,
  minimumMatches: 4,
  solve(p: PreparedMatches, idx: ArrayLike<number>): Float64Array[] {
    if (!goodHomographySample(p.data, idx)) return [];
    const H = homographyNormalized(p.data, idx);
    return H ? [H] : [];
  },
  evaluate: evaluateHomography,
  fit: (p, weights) => weightedHomography(p.data, weights),
  error: (H, p, i) =>
    transferAt(H, adjugate3(H), p.data, i, p.norm0.scale ** 2, p.norm1.scale ** 2),
  finish: (H) => Float64Array.from(H),
  denormalize: denormalizeHomography,
};
