/**
 * Affine Lucas–Kanade alignment of an image patch: the sub-pixel step of the
 * refinement of coarse matches (ncc_refinement.ts) after its NCC search.
 * Inverse compositional (Baker and Matthews, "Lucas-Kanade 20 Years On",
 * 2004): the template's steepest-descent images and its 6×6 Hessian are
 * computed once, so that an iteration samples image 1 once per patch pixel
 * (bilinear); a gain and a bias are fitted at each step, as for NCC, so that
 * exposure changes between the photos do not move the estimate. An affine
 * warp, not a shift alone, because a 17×17 patch of a surface seen from two
 * viewpoints is sheared and scaled (measured on relpose_dev, fountain +
 * herzjesu, 800 px, both orders, seeds 0–2: pose mAA 0.820 with the quadratic
 * NCC peak and a 1-px RANSAC threshold, 0.875 with this and 0.35 px, 0.890
 * when matches whose aligned patches correlate below 0.8 are dropped;
 * bench/results/quality_sweep.md).
 * @module
 */
import { choleskySolver } from "../geometry/linalg.ts";
import type { GrayImage } from "../io/image.ts";

/** Where the anchor's patch lies in image 1, and how well it fits there. */
export interface AffineAlignment {
  /** The anchor's position in image 1, pixels (sub-pixel). */
  x: number;
  y: number;
  /** Zero-mean normalised cross-correlation of the patch with its warped image, in [-1, 1]. */
  zncc: number;
}

/** Farthest (pixels) the estimate may move from its start before it counts as diverged. */
const MAX_SHIFT = 2;
/** Largest entry of the warp's linear part minus the identity before it counts as diverged. */
const MAX_DEFORMATION = 0.6;
/** An iteration moving the anchor less than this (pixels) ends the alignment. */
const CONVERGED = 1e-3;

/** Bilinear sample of `img` at (x, y), which must lie within [0, w − 1) × [0, h − 1). */
function bilinear(img: GrayImage, x: number, y: number): number {
  const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
  const w = img.width, d = img.data, i = y0 * w + x0;
  return (1 - fy) * ((1 - fx) * d[i] + fx * d[i + 1]) +
    fy * ((1 - fx) * d[i + w] + fx * d[i + w + 1]);
}

/**
 * Aligns the (2·radius + 1)² patch of `img0` centred on the whole pixel
 * (ax, ay) with `img1`, starting from the anchor at (bx, by) and the identity
 * as the linear part, by at most `iterations` Gauss–Newton steps of
 * `Σ (α I₁(W(u)) + β − I₀(u))²` over the patch (W affine, α and β a gain and
 * a bias fitted per step). `null` when the patch (or its warp) leaves an
 * image, a patch is flat, or the estimate diverges: the anchor moves more
 * than 2 px from its start, or the linear part more than 0.6 from the
 * identity.
 */
export function alignAffine(
  img0: GrayImage,
  ax: number,
  ay: number,
  img1: GrayImage,
  bx: number,
  by: number,
  radius: number,
  iterations: number,
): AffineAlignment | null {
  const R = radius, side = 2 * R + 1, N = side * side, w0 = img0.width, d0 = img0.data;
  if (ax - R - 1 < 0 || ay - R - 1 < 0 || ax + R + 1 >= w0 || ay + R + 1 >= img0.height) {
    return null;
  }
  // The template, its steepest-descent images ∇I₀ · ∂W/∂p (p = tx, ty, a11, a12, a21, a22)
  // and their Gauss–Newton Hessian.
  const T = new Float64Array(N), SD = new Float64Array(6 * N), H = new Float64Array(36);
  let sT = 0, sTT = 0;
  for (let v = -R, k = 0; v <= R; v++) {
    for (let u = -R; u <= R; u++, k++) {
      const i = (ay + v) * w0 + ax + u;
      T[k] = d0[i];
      sT += d0[i];
      sTT += d0[i] * d0[i];
      const gx = (d0[i + 1] - d0[i - 1]) / 2, gy = (d0[i + w0] - d0[i - w0]) / 2;
      const J = [gx, gy, gx * u, gx * v, gy * u, gy * v];
      for (let a = 0; a < 6; a++) {
        SD[6 * k + a] = J[a];
        for (let b = a; b < 6; b++) H[6 * a + b] += J[a] * J[b];
      }
    }
  }
  for (let a = 0; a < 6; a++) for (let b = 0; b < a; b++) H[6 * a + b] = H[6 * b + a];
  const varT = sTT - (sT * sT) / N;
  if (varT < 1e-8) return null;
  const solve = choleskySolver(H, 6);
  if (!solve) return null;
  // W(u) = A u + t.
  let a11 = 1, a12 = 0, a21 = 0, a22 = 1, tx = bx, ty = by, zncc = 0;
  const I = new Float64Array(N), g = new Float64Array(6);
  const xMax = img1.width - 1, yMax = img1.height - 1;
  for (let it = 0; it < iterations; it++) {
    let sI = 0, sII = 0, sIT = 0;
    for (let v = -R, k = 0; v <= R; v++) {
      for (let u = -R; u <= R; u++, k++) {
        const x = a11 * u + a12 * v + tx, y = a21 * u + a22 * v + ty;
        if (!(x >= 0 && y >= 0 && x < xMax && y < yMax)) return null;
        const value = bilinear(img1, x, y);
        I[k] = value;
        sI += value;
        sII += value * value;
        sIT += value * T[k];
      }
    }
    const varI = sII - (sI * sI) / N;
    if (varI < 1e-8) return null;
    const cov = sIT - (sI * sT) / N;
    const alpha = cov / varI, beta = (sT - alpha * sI) / N;
    zncc = cov / Math.sqrt(varI * varT);
    g.fill(0);
    for (let k = 0; k < N; k++) {
      const e = alpha * I[k] + beta - T[k];
      for (let a = 0; a < 6; a++) g[a] += SD[6 * k + a] * e;
    }
    const dp = solve(g);
    // ΔW(u) = (1 + D) u + δ; W ← W ∘ ΔW⁻¹.
    const d11 = 1 + dp[2], d12 = dp[3], d21 = dp[4], d22 = 1 + dp[5];
    const det = d11 * d22 - d12 * d21;
    if (Math.abs(det) < 1e-6) return null;
    const i11 = d22 / det, i12 = -d12 / det, i21 = -d21 / det, i22 = d11 / det;
    const itx = -(i11 * dp[0] + i12 * dp[1]), ity = -(i21 * dp[0] + i22 * dp[1]);
    const ntx = a11 * itx + a12 * ity + tx, nty = a21 * itx + a22 * ity + ty;
    const step = Math.hypot(ntx - tx, nty - ty);
    [a11, a12, a21, a22] = [
      a11 * i11 + a12 * i21,
      a11 * i12 + a12 * i22,
      a21 * i11 + a22 * i21,
      a21 * i12 + a22 * i22,
    ];
    [tx, ty] = [ntx, nty];
    if (Math.hypot(tx - bx, ty - by) > MAX_SHIFT) return null;
    if (
      Math.max(Math.abs(a11 - 1), Math.abs(a12), Math.abs(a21), Math.abs(a22 - 1)) > MAX_DEFORMATION
    ) {
      return null;
    }
    if (step < CONVERGED) break;
  }
  return { x: tx, y: ty, zncc };
}
