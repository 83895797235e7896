/**
 * Relative pose from a fundamental matrix: the essential matrix, the IMC2022
 * scorer's decomposition (two rotations and a translation direction, no
 * cheirality test), and the usual cheirality-checked pose users expect.
 *
 * Conventions: F satisfies `x1ᵀ F x0 = 0` (x0 pixel in image 0); K0, K1 are
 * row-major 3×3 intrinsics; the pose maps camera 0 to camera 1,
 * `X1 = R X0 + t`, so that `E = [t]ₓ R` and `E = K1ᵀ F K0`.
 * @module
 */
import { det3, type Mat3, mul3, mulVec3, svd3, transpose3, type Vec3 } from "./linalg.ts";
import type { Points } from "./ransac_options.ts";

/** `E = K1ᵀ F K0`: the essential matrix of F for the intrinsics of image 0 and image 1. */
export function essentialFromFundamental(
  F: ArrayLike<number>,
  K0: ArrayLike<number>,
  K1: ArrayLike<number>,
): Mat3 {
  return mul3(transpose3(K1), mul3(F, K0));
}

/** The two rotation candidates and the translation direction of an essential matrix. */
export interface EssentialDecomposition {
  /** `U W Vᵀ`. */
  R1: Mat3;
  /** `U Wᵀ Vᵀ`. */
  R2: Mat3;
  /** Third column of U (unit length, sign arbitrary). */
  t: Vec3;
}

const W = Float64Array.of(0, 1, 0, -1, 0, 0, 0, 0, 1);

/**
 * Decomposition of E as the IMC2022 scorer does it (OpenCV's
 * `decomposeEssentialMat`): SVD `E = U S Vᵀ`, U and V negated where their
 * determinant is −1, rotations `U W Vᵀ` and `U Wᵀ Vᵀ`, t = third column of U.
 * The four poses (R1 | R2, ±t) are the candidates; nothing is tested here.
 */
export function decomposeEssential(E: ArrayLike<number>): EssentialDecomposition {
  const { U, V } = svd3(E);
  if (det3(U) < 0) { for (let i = 0; i < 9; i++) U[i] = -U[i]; }
  if (det3(V) < 0) { for (let i = 0; i < 9; i++) V[i] = -V[i]; }
  const Vt = transpose3(V);
  return {
    R1: mul3(mul3(U, W), Vt),
    R2: mul3(mul3(U, transpose3(W)), Vt),
    t: [U[2], U[5], U[8]],
  };
}

/** A relative pose with the number of matches it places in front of both cameras. */
export interface RecoveredPose {
  /** Rotation, camera 0 → camera 1. */
  R: Mat3;
  /** Unit translation, camera 0 → camera 1 (`X1 = R X0 + t`). */
  t: Vec3;
  /** Matches (among those used) triangulated in front of both cameras. */
  inFront: number;
}

/**
 * The cheirality-checked pose (as OpenCV's `recoverPose`): of the four
 * candidates (R1 | R2, ±t) of {@link decomposeEssential}, the one that
 * triangulates most matches at positive depth in both cameras.
 *
 * @param E essential matrix (`x̂1ᵀ E x̂0 = 0` in normalised camera coordinates)
 * @param points0 pixels in image 0 `[x, y, …]`
 * @param points1 pixels in image 1
 * @param K0 intrinsics of image 0
 * @param K1 intrinsics of image 1
 * @param mask optional: only matches with a non-zero entry are used (e.g. RANSAC inliers)
 */
export function recoverPose(
  E: ArrayLike<number>,
  points0: Points,
  points1: Points,
  K0: ArrayLike<number>,
  K1: ArrayLike<number>,
  mask?: ArrayLike<number>,
): RecoveredPose {
  const { R1, R2, t } = decomposeEssential(E);
  const rays0: Vec3[] = [], rays1: Vec3[] = [];
  const Ki0 = inverseIntrinsics(K0), Ki1 = inverseIntrinsics(K1);
  for (let i = 0; i < points0.length / 2; i++) {
    if (mask && !mask[i]) continue;
    rays0.push(mulVec3(Ki0, [points0[2 * i], points0[2 * i + 1], 1]));
    rays1.push(mulVec3(Ki1, [points1[2 * i], points1[2 * i + 1], 1]));
  }
  let best: RecoveredPose | null = null;
  for (const R of [R1, R2]) {
    for (const s of [1, -1]) {
      const tc: Vec3 = [s * t[0], s * t[1], s * t[2]];
      let inFront = 0;
      for (let i = 0; i < rays0.length; i++) {
        const [z0, z1] = depths(R, tc, rays0[i], rays1[i]);
        if (z0 > 0 && z1 > 0) inFront++;
      }
      if (!best || inFront > best.inFront) best = { R, t: tc, inFront };
    }
  }
  return best!;
}

/** Inverse of an upper-triangular intrinsics matrix (fx, skew, cx; fy, cy; 0 0 1). */
function inverseIntrinsics(K: ArrayLike<number>): Mat3 {
  const [fx, s, cx] = [K[0], K[1], K[2]], [fy, cy] = [K[4], K[5]];
  return Float64Array.of(
    1 / fx,
    -s / (fx * fy),
    (s * cy - cx * fy) / (fx * fy),
    0,
    1 / fy,
    -cy / fy,
    0,
    0,
    1,
  );
}

/**
 * Depths (z0, z1) along the rays u0, u1 that best satisfy `z1 u1 = R (z0 u0) + t`
 * in least squares (the two-ray triangulation); their signs decide cheirality.
 */
function depths(R: ArrayLike<number>, t: Vec3, u0: Vec3, u1: Vec3): [number, number] {
  const a = mulVec3(R, u0); // z1 u1 − z0 a = t
  const aa = a[0] * a[0] + a[1] * a[1] + a[2] * a[2];
  const bb = u1[0] * u1[0] + u1[1] * u1[1] + u1[2] * u1[2];
  const ab = a[0] * u1[0] + a[1] * u1[1] + a[2] * u1[2];
  const at = a[0] * t[0] + a[1] * t[1] + a[2] * t[2];
  const bt = u1[0] * t[0] + u1[1] * t[1] + u1[2] * t[2];
  // Normal equations of [−a | u1] [z0; z1] = t.
  const det = aa * bb - ab * ab;
  if (det === 0) return [0, 0];
  return [(-at * bb + ab * bt) / det, (aa * bt - ab * at) / det];
}
