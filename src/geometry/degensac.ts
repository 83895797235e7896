/**
 * DEGENSAC's plane recovery (Chum, Werner, Matas 2005): when most of a
 * winning sample lies on a plane, F is re-estimated by plane and parallax.
 * @module
 */
import { det3, frobenius, type Mat3, mul3, mulVec3, normalizeSign, svd3 } from "./linalg.ts";
import type { PreparedMatches } from "./matches.ts";
import type { ResolvedOptions } from "./ransac_options.ts";
import { drawSample } from "./sampling.ts";
import { scoreModel } from "./scores.ts";

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
