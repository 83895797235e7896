/**
 * The score of a reconstruction against ground-truth cameras, exactly as
 * ../shared/data/sfm_dev/README.md ("Scoring") defines it:
 * * photos registered / total;
 * * for every pair (i, j) of ground-truth photos, with world-to-camera poses,
 *   `R_ij = R_j R_iᵀ`, `t_ij = t_j − R_ij t_i`: the rotation error
 *   `angle(R_ij,estᵀ R_ij,gt)` and the translation-direction error, the angle
 *   between `t_ij,est` and `t_ij,gt` over 0–180° (not folded: a model fixes
 *   the sign); the pose error is the larger; a pair with an unregistered
 *   photo has an infinite error;
 * * the AUC of the pose error at 1°, 3°, 5°, 10° over all N(N−1)/2 pairs
 *   (trapezoids over the sorted errors, as SuperGlue's/LoFTR's `error_auc`);
 * * after a least-squares similarity (Umeyama, with scale, no outlier
 *   rejection) mapping the registered camera centres onto the ground truth:
 *   median and max camera-centre error (ground-truth units, metres for
 *   sfm_dev) and median and max camera rotation error in degrees.
 *
 * Platform neutral: cameras come in as name → pose.
 * @module
 */
import { type Mat3, mul3, rotationAngle, symmetricEigen, transpose3, type Vec3 } from "./linalg.ts";
import { rotationFromQuaternion } from "./quaternion.ts";

/** A world-to-camera pose: `x_cam = R X + t`, R row-major 3×3. */
export interface CameraPose {
  /** Rotation, row-major. */
  R: ArrayLike<number>;
  /** Translation. */
  t: ArrayLike<number>;
}

/** The AUC thresholds of the score, degrees. */
export const SFM_AUC_THRESHOLDS: readonly number[] = [1, 3, 5, 10];

const DEG = 180 / Math.PI;

/** Angle between two rotations in degrees: `angle(Aᵀ B)`. */
export function rotationDifference(A: ArrayLike<number>, B: ArrayLike<number>): number {
  return rotationAngle(mul3(transpose3(A), B));
}

/**
 * Angle between two vectors in degrees, 0–180 (atan2 form). Infinity when
 * either is zero or not finite (no direction: counted as a failure).
 */
export function vectorAngle(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const na = Math.hypot(a[0], a[1], a[2]), nb = Math.hypot(b[0], b[1], b[2]);
  if (!(na > 0 && nb > 0 && Number.isFinite(na) && Number.isFinite(nb))) return Infinity;
  const cx = a[1] * b[2] - a[2] * b[1],
    cy = a[2] * b[0] - a[0] * b[2],
    cz = a[0] * b[1] - a[1] * b[0];
  return Math.atan2(Math.hypot(cx, cy, cz), a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) * DEG;
}

/** The camera centre `C = −Rᵀ t`. */
export function cameraCentre(pose: CameraPose): Vec3 {
  const { R, t } = pose;
  return [
    -(R[0] * t[0] + R[3] * t[1] + R[6] * t[2]),
    -(R[1] * t[0] + R[4] * t[1] + R[7] * t[2]),
    -(R[2] * t[0] + R[5] * t[1] + R[8] * t[2]),
  ];
}

/** The relative pose of camera j with respect to camera i: `R_ij = R_j R_iᵀ`, `t_ij = t_j − R_ij t_i`. */
export function relativePose(i: CameraPose, j: CameraPose): { R: Mat3; t: Vec3 } {
  const R = mul3(j.R, transpose3(i.R));
  const ti = i.t;
  return {
    R,
    t: [
      j.t[0] - (R[0] * ti[0] + R[1] * ti[1] + R[2] * ti[2]),
      j.t[1] - (R[3] * ti[0] + R[4] * ti[1] + R[5] * ti[2]),
      j.t[2] - (R[6] * ti[0] + R[7] * ti[1] + R[8] * ti[2]),
    ],
  };
}

/** The errors of one pair of photos. */
export interface PairPoseError {
  /** Name of photo i (the earlier one in the ground truth's order). */
  image0: string;
  /** Name of photo j. */
  image1: string;
  /** Relative rotation error, degrees (Infinity when a photo is unregistered). */
  rotation: number;
  /** Translation-direction error, degrees, 0–180 (Infinity when unregistered). */
  translation: number;
  /** max(rotation, translation). */
  error: number;
}

/**
 * The pose errors of every pair (i < j in the order of `gt`'s keys) of
 * ground-truth photos; a photo missing from `est` makes its pairs infinite.
 */
export function pairPoseErrors(
  est: ReadonlyMap<string, CameraPose>,
  gt: ReadonlyMap<string, CameraPose>,
): PairPoseError[] {
  const names = [...gt.keys()];
  const out: PairPoseError[] = [];
  for (let a = 0; a < names.length; a++) {
    for (let b = a + 1; b < names.length; b++) {
      const ea = est.get(names[a]), eb = est.get(names[b]);
      if (!ea || !eb) {
        out.push({
          image0: names[a],
          image1: names[b],
          rotation: Infinity,
          translation: Infinity,
          error: Infinity,
        });
        continue;
      }
      const e = relativePose(ea, eb), g = relativePose(gt.get(names[a])!, gt.get(names[b])!);
      const rotation = rotationDifference(e.R, g.R);
      const translation = vectorAngle(e.t, g.t);
      out.push({
        image0: names[a],
        image1: names[b],
        rotation,
        translation,
        error: Math.max(rotation, translation),
      });
    }
  }
  return out;
}

/**
 * Area under the recall-vs-error curve up to each threshold, divided by the
 * threshold, over all `errors` (Infinity = never recalled): SuperGlue's
 * `pose_auc` / LoFTR's `error_auc` — errors sorted, recall `k/n` at the k-th,
 * a (0, 0) point prepended, trapezoids up to the threshold with the recall
 * held flat from the last error below it. 0 for no errors.
 */
export function poseAuc(errors: readonly number[], thresholds: readonly number[]): number[] {
  const n = errors.length;
  if (n === 0) return thresholds.map(() => 0);
  const e = [0, ...[...errors].sort((a, b) => a - b)];
  const r = Array.from({ length: n + 1 }, (_, k) => k / n);
  return thresholds.map((t) => {
    // first index with e[i] >= t (numpy searchsorted, side "left")
    let last = 0;
    while (last < e.length && e[last] < t) last++;
    let area = 0;
    for (let k = 1; k < last; k++) area += ((r[k] + r[k - 1]) / 2) * (e[k] - e[k - 1]);
    area += r[last - 1] * (t - e[last - 1]);
    return area / t;
  });
}

/** A similarity `y = s R x + t`. */
export interface Similarity {
  /** Scale. */
  s: number;
  /** Rotation, row-major. */
  R: Mat3;
  /** Translation. */
  t: Vec3;
}

/** Applies a similarity to a point. */
export function applySimilarity(T: Similarity, x: ArrayLike<number>): Vec3 {
  const { s, R, t } = T;
  return [
    s * (R[0] * x[0] + R[1] * x[1] + R[2] * x[2]) + t[0],
    s * (R[3] * x[0] + R[4] * x[1] + R[5] * x[2]) + t[1],
    s * (R[6] * x[0] + R[7] * x[1] + R[8] * x[2]) + t[2],
  ];
}

/**
 * The least-squares similarity mapping points `src[k]` onto `dst[k]`
 * (Umeyama 1991, with scale; no outlier rejection): minimises
 * `Σ ‖dst_k − (s R src_k + t)‖²` over rotations R (det +1), s > 0, t.
 * The rotation is found as Horn's (1987) unit quaternion, the eigenvector of
 * the largest eigenvalue λ of a symmetric 4×4 matrix built from the cross
 * covariance; it maximises `tr(Rᵀ Σ)` over proper rotations, which is what
 * Umeyama's sign-corrected SVD does, and `s = λ / Σ‖src_k − mean‖²`.
 * Needs 3 points not on a line for a unique R; with fewer, some rotation
 * that fits is returned. Throws for fewer than 2 points or all src equal.
 */
export function umeyama(
  src: readonly ArrayLike<number>[],
  dst: readonly ArrayLike<number>[],
): Similarity {
  const n = src.length;
  if (n !== dst.length) throw new Error(`umeyama: ${n} source and ${dst.length} target points`);
  if (n < 2) throw new Error(`umeyama: ${n} point(s), at least 2 needed`);
  const ms = [0, 0, 0], md = [0, 0, 0];
  for (let k = 0; k < n; k++) {
    for (let c = 0; c < 3; c++) {
      ms[c] += src[k][c] / n;
      md[c] += dst[k][c] / n;
    }
  }
  // S[i][j] = Σ a_i b_j with a = src − ms, b = dst − md; and Σ ‖a‖²
  const S = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  let varS = 0;
  for (let k = 0; k < n; k++) {
    const a = [src[k][0] - ms[0], src[k][1] - ms[1], src[k][2] - ms[2]];
    const b = [dst[k][0] - md[0], dst[k][1] - md[1], dst[k][2] - md[2]];
    varS += a[0] ** 2 + a[1] ** 2 + a[2] ** 2;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) S[i][j] += a[i] * b[j];
  }
  if (!(varS > 0)) throw new Error("umeyama: the source points coincide");
  const [[xx, xy, xz], [yx, yy, yz], [zx, zy, zz]] = S;
  // deno-fmt-ignore
  const N = [
    xx + yy + zz, yz - zy, zx - xz, xy - yx,
    yz - zy, xx - yy - zz, xy + yx, zx + xz,
    zx - xz, xy + yx, -xx + yy - zz, yz + zy,
    xy - yx, zx + xz, yz + zy, -xx - yy + zz,
  ];
  const { values, vectors } = symmetricEigen(N, 4); // ascending: the largest is last
  const R = rotationFromQuaternion(vectors[3]);
  const s = values[3] / varS;
  const Rms = [
    R[0] * ms[0] + R[1] * ms[1] + R[2] * ms[2],
    R[3] * ms[0] + R[4] * ms[1] + R[5] * ms[2],
    R[6] * ms[0] + R[7] * ms[1] + R[8] * ms[2],
  ];
  return { s, R, t: [md[0] - s * Rms[0], md[1] - s * Rms[1], md[2] - s * Rms[2]] };
}

/** Median of numbers (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Errors of the registered cameras after the similarity alignment. */
export interface AlignedErrors {
  /** The similarity applied to the reconstruction (est → gt). */
  similarity: Similarity;
  /** Per registered photo (in gt order): name, centre error, rotation error (degrees). */
  cameras: { name: string; position: number; rotation: number }[];
  /** Median camera-centre error (gt units). */
  medianPosition: number;
  /** Largest camera-centre error. */
  maxPosition: number;
  /** Median camera rotation error, degrees. */
  medianRotation: number;
  /** Largest camera rotation error, degrees. */
  maxRotation: number;
}

/**
 * Aligns the registered cameras' centres to the ground truth (Umeyama, with
 * scale) and measures each camera's centre and rotation error. The rotation
 * of an aligned camera is `R_est R_simᵀ`. Null with fewer than 3 registered
 * photos (the alignment's rotation is then not determined).
 */
export function alignedErrors(
  est: ReadonlyMap<string, CameraPose>,
  gt: ReadonlyMap<string, CameraPose>,
): AlignedErrors | null {
  const names = [...gt.keys()].filter((n) => est.has(n));
  if (names.length < 3) return null;
  const src = names.map((n) => cameraCentre(est.get(n)!));
  const dst = names.map((n) => cameraCentre(gt.get(n)!));
  const similarity = umeyama(src, dst);
  const RsT = transpose3(similarity.R);
  const cameras = names.map((name, k) => {
    const c = applySimilarity(similarity, src[k]);
    const position = Math.hypot(c[0] - dst[k][0], c[1] - dst[k][1], c[2] - dst[k][2]);
    const rotation = rotationDifference(mul3(est.get(name)!.R, RsT), gt.get(name)!.R);
    return { name, position, rotation };
  });
  const pos = cameras.map((c) => c.position), rot = cameras.map((c) => c.rotation);
  return {
    similarity,
    cameras,
    medianPosition: median(pos),
    maxPosition: Math.max(...pos),
    medianRotation: median(rot),
    maxRotation: Math.max(...rot),
  };
}

/** The full score of a reconstruction. */
export interface SfmScore {
  /** Ground-truth photos present in the reconstruction. */
  registered: number;
  /** Ground-truth photos. */
  total: number;
  /** Reconstructed photos absent from the ground truth (ignored). */
  unknown: string[];
  /** Pairs scored: total·(total−1)/2. */
  pairs: PairPoseError[];
  /** AUC at each of `thresholds` (default 1°, 3°, 5°, 10°). */
  auc: { threshold: number; value: number }[];
  /** Median relative rotation error over all pairs, degrees (Infinity when half or more fail). */
  medianRotation: number;
  /** Median translation-direction error over all pairs, degrees. */
  medianTranslation: number;
  /** After the similarity alignment; null below 3 registered photos. */
  aligned: AlignedErrors | null;
}

/**
 * Scores reconstructed cameras `est` against `gt` (both name → world-to-camera
 * pose). Photos are matched by name; those only in `est` are listed in
 * `unknown` and ignored.
 */
export function scoreReconstruction(
  est: ReadonlyMap<string, CameraPose>,
  gt: ReadonlyMap<string, CameraPose>,
  thresholds: readonly number[] = SFM_AUC_THRESHOLDS,
): SfmScore {
  const pairs = pairPoseErrors(est, gt);
  const values = poseAuc(pairs.map((p) => p.error), thresholds);
  return {
    registered: [...gt.keys()].filter((n) => est.has(n)).length,
    total: gt.size,
    unknown: [...est.keys()].filter((n) => !gt.has(n)),
    pairs,
    auc: thresholds.map((threshold, k) => ({ threshold, value: values[k] })),
    medianRotation: median(pairs.map((p) => p.rotation)),
    medianTranslation: median(pairs.map((p) => p.translation)),
    aligned: alignedErrors(est, gt),
  };
}
