/**
 * The relative pose of two calibrated views from their matches: F on the GPU
 * (`estimateFundamental`), `E = K1ᵀ F K0`, and the cheirality-checked pose
 * (`recoverPose`), as OpenCV users chain `findFundamentalMat` and
 * `recoverPose`.
 * @module
 */
import type { Gpu } from "../gpu/mod.ts";
import { type Mat3, rotationAngle, type Vec3 } from "./linalg.ts";
import { essentialFromFundamental, recoverPose } from "./pose.ts";
import { estimateFundamental } from "./ransac_gpu.ts";
import type { FundamentalResult, Points, RansacOptions } from "./ransac_options.ts";

/** The pinhole intrinsics `K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`, row-major. */
export function intrinsics(fx: number, fy: number, cx: number, cy: number): Mat3 {
  return Float64Array.of(fx, 0, cx, 0, fy, cy, 0, 0, 1);
}

/** A relative pose with the F it came from. */
export interface RelativePoseResult extends FundamentalResult {
  /** `E = K1ᵀ F K0` (`x̂1ᵀ E x̂0 = 0` in normalised camera coordinates), or `null` without F. */
  E: Mat3 | null;
  /** Rotation camera 0 → camera 1 (`X1 = R X0 + t`), row-major, or `null`. */
  R: Mat3 | null;
  /** Translation direction camera 0 → camera 1, unit length, or `null`. */
  t: Vec3 | null;
  /** Rotation angle of R, degrees, or `null`. */
  rotationDegrees: number | null;
  /** RANSAC inliers triangulated in front of both cameras by (R, t). */
  inFront: number;
}

/**
 * The relative pose of two views from matches and intrinsics: F by GPU RANSAC
 * ({@link estimateFundamental}, same options), `E = K1ᵀ F K0`, and of E's
 * four decompositions the one that puts most RANSAC inliers in front of both
 * cameras. The translation's scale is not observable: `t` has unit length.
 * Keypoints and K in the same pixel convention (this engine's: (0, 0) at the
 * centre of the top-left pixel, as OpenCV).
 *
 * @example
 * ```ts
 * import { estimateRelativePose, intrinsics, Matcher } from "./mod.ts";
 *
 * const matcher = await Matcher.create();
 * const m = await matcher.match("a.jpg", "b.jpg");
 * const K = intrinsics(1077.9, 1079.8, 593.5, 392.8); // the same camera for both photos
 * const pose = await estimateRelativePose(matcher.gpu, m.keypoints0, m.keypoints1, K, K, {
 *   threshold: 1,
 * });
 * if (pose.R) console.log(`rotation ${pose.rotationDegrees}°, t ${pose.t}`);
 * else console.log(`no pose: ${pose.message}`);
 * matcher.destroy();
 * ```
 *
 * @param gpu the device
 * @param points0 matches in image 0, `[x, y, …]` pixels
 * @param points1 the same matches in image 1
 * @param K0 intrinsics of image 0, row-major 3×3
 * @param K1 intrinsics of image 1
 * @param options RANSAC options ({@link RansacOptions}; threshold on the Sampson distance)
 */
export async function estimateRelativePose(
  gpu: Gpu,
  points0: Points,
  points1: Points,
  K0: ArrayLike<number>,
  K1: ArrayLike<number>,
  options: RansacOptions = {},
): Promise<RelativePoseResult> {
  const f = await estimateFundamental(gpu, points0, points1, options);
  if (!f.F) return { ...f, E: null, R: null, t: null, rotationDegrees: null, inFront: 0 };
  const E = essentialFromFundamental(f.F, K0, K1);
  const { R, t, inFront } = recoverPose(E, points0, points1, K0, K1, f.inliers);
  return { ...f, E, R, t, rotationDegrees: rotationAngle(R), inFront };
}
