/**
 * The Image Matching Challenge 2022 metric (mean Average Accuracy of relative
 * poses), exactly as ../shared/docs/geometry.md defines it: per pair, E from
 * the submitted F and the true intrinsics, both rotations of its decomposition
 * scored (smaller error kept), a sign-free translation direction scaled to the
 * true baseline; 10 (degrees, metres) threshold pairs; per-scene mean; plain
 * mean over scenes.
 * @module
 */
import { decomposeEssential, essentialFromFundamental } from "./pose.ts";
import { quaternionFromRotation } from "./quaternion.ts";

/** Rotation thresholds in degrees: numpy `linspace(1, 10, 10)`. */
export const MAA_ROTATION_THRESHOLDS: readonly number[] = Array.from(
  { length: 10 },
  (_, k) => k + 1,
);

/** Translation thresholds in metres: numpy `geomspace(0.2, 5, 10)`. */
export const MAA_TRANSLATION_THRESHOLDS: readonly number[] = Array.from(
  { length: 10 },
  (_, k) =>
    k === 0
      ? 0.2
      : k === 9
      ? 5
      : 10 ** (Math.log10(0.2) + (k * (Math.log10(5) - Math.log10(0.2))) / 9),
);

const EPS = 1e-15;

/**
 * Rotation error in degrees as the IMC scorer computes it:
 * `degrees(acos(1 − 2·max(1e-15, 1 − ⟨q_est, q_gt⟩²)))`.
 */
export function rotationError(Rest: ArrayLike<number>, Rgt: ArrayLike<number>): number {
  const q = quaternionFromRotation(Rest), g = quaternionFromRotation(Rgt);
  const dot = q[0] * g[0] + q[1] * g[1] + q[2] * g[2] + q[3] * g[3];
  const loss = Math.max(EPS, 1 - dot * dot);
  return (Math.acos(Math.max(-1, 1 - 2 * loss)) * 180) / Math.PI;
}

/**
 * Translation error in metres: t given the true length,
 * `t_m = t/|t| · |T| · scale`, `T_m = T · scale`, `min(|T_m − t_m|, |T_m + t_m|)`.
 */
export function translationError(t: ArrayLike<number>, T: ArrayLike<number>, scale = 1): number {
  const nt = Math.hypot(t[0], t[1], t[2]) + EPS, nT = Math.hypot(T[0], T[1], T[2]);
  let minus = 0, plus = 0;
  for (let i = 0; i < 3; i++) {
    const tm = (t[i] / nt) * nT * scale, Tm = T[i] * scale;
    minus += (Tm - tm) ** 2;
    plus += (Tm + tm) ** 2;
  }
  return Math.sqrt(Math.min(minus, plus));
}

/** Rotation error (degrees) and translation error (metres) of one pair. */
export interface PoseErrors {
  /** Rotation error in degrees (the smaller of the two decomposed rotations). */
  errQ: number;
  /** Translation error in metres (direction scaled to the true baseline, either sign). */
  errT: number;
}

/** Ground truth of one pair: intrinsics, relative pose (`X1 = R X0 + T`), scene scale. */
export interface PairTruth {
  /** Intrinsics of image 0 (the image of x0 in `x1ᵀ F x0 = 0`), row-major. */
  K0: ArrayLike<number>;
  /** Intrinsics of image 1. */
  K1: ArrayLike<number>;
  /** Rotation camera 0 → camera 1, row-major. */
  R: ArrayLike<number>;
  /** Translation camera 0 → camera 1 in scene units. */
  T: ArrayLike<number>;
  /** Scene units → metres (default 1). */
  scale?: number;
}

/**
 * The IMC scorer's errors of F (`x1ᵀ F x0 = 0`, any scale): `E = K1ᵀ F K0`,
 * both rotations of {@link decomposeEssential} scored, the smaller error of
 * each kind kept. A missing, non-finite or zero F gives infinite errors (a
 * failure at every threshold).
 */
export function poseErrors(F: ArrayLike<number> | null | undefined, truth: PairTruth): PoseErrors {
  if (
    !F || F.length !== 9 || !Array.from(F).every(Number.isFinite) ||
    Array.from(F).every((v) => v === 0)
  ) {
    return { errQ: Infinity, errT: Infinity };
  }
  const { R1, R2, t } = decomposeEssential(essentialFromFundamental(F, truth.K0, truth.K1));
  return {
    errQ: Math.min(rotationError(R1, truth.R), rotationError(R2, truth.R)),
    errT: translationError(t, truth.T, truth.scale ?? 1),
  };
}

/** Fraction of the 10 threshold pairs at which a pair is accurate (both errors strictly below). */
export function pairAccuracy(e: PoseErrors): number {
  let hits = 0;
  for (let k = 0; k < 10; k++) {
    if (e.errQ < MAA_ROTATION_THRESHOLDS[k] && e.errT < MAA_TRANSLATION_THRESHOLDS[k]) hits++;
  }
  return hits / 10;
}

/** The scene of an IMC id `dataset;scene;pair` (its second field). */
export function sceneOf(pairId: string): string {
  const f = pairId.split(";");
  if (f.length !== 3) throw new RangeError(`not an IMC pair id (dataset;scene;pair): ${pairId}`);
  return f[1];
}

/** mAA per scene and their plain mean. */
export interface MaaResult {
  /** Mean over the scene's pairs of {@link pairAccuracy}, by scene name. */
  perScene: Record<string, number>;
  /** Plain mean over the scenes. */
  mean: number;
}

/**
 * IMC2022 mAA of pairs with their errors: per scene the mean over its pairs of
 * the fraction of the 10 thresholds passed, then the plain mean over scenes.
 */
export function maa(pairs: readonly (PoseErrors & { scene: string })[]): MaaResult {
  const sums = new Map<string, [number, number]>();
  for (const p of pairs) {
    const s = sums.get(p.scene) ?? [0, 0];
    s[0] += pairAccuracy(p);
    s[1]++;
    sums.set(p.scene, s);
  }
  const perScene: Record<string, number> = {};
  for (const [scene, [acc, n]] of sums) perScene[scene] = acc / n;
  const values = Object.values(perScene);
  return { perScene, mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0 };
}
