/**
 * Geometry, in float64 on the CPU and on the GPU: robust estimation of the
 * fundamental matrix and the homography, split as PoseLib splits it
 * (`ransac_options.ts` the options and results; `matches.ts` input checks and
 * Hartley normalisation; `sampling.ts` the counter-based sample draw;
 * `fundamental_solvers.ts` the 7- and 8-point solvers and
 * `homography_solvers.ts` the 4-point DLT, each with its `ModelKind`
 * (`model_kind.ts`); `scores.ts` Sampson and symmetric transfer errors,
 * MAGSAC++ and MSAC; `local_optimization.ts` iteratively reweighted least
 * squares; `degensac.ts` plane recovery for F; `ransac.ts` the loop every
 * estimator shares), the float64 estimators (`ransac_cpu.ts`) beside the GPU
 * ones (`ransac_gpu.ts`, their kernels in kernels/ransac*.wgsl); relative
 * pose from E (`pose.ts`); the IMC2022 metric (`metric.ts`); the score of a
 * reconstruction (`sfm_metric.ts`); quaternions and 3×3 linear algebra.
 * Convention: images 0 and 1, `x1ᵀ F x0 = 0`, `X1 = R X0 + T`, pixels with
 * (0, 0) at the centre of the top-left pixel. Platform-neutral.
 * @module
 */
export { eightPoint, enforceRank2, sevenPoint } from "./fundamental_solvers.ts";
export type { Mat3, Vec3 } from "./linalg.ts";
export {
  maa,
  type MaaResult,
  pairAccuracy,
  type PairTruth,
  type PoseErrors,
  poseErrors,
  rotationError,
  translationError,
} from "./metric.ts";
export { estimateRelativePose, intrinsics, type RelativePoseResult } from "./relative_pose.ts";
export {
  decomposeEssential,
  type EssentialDecomposition,
  essentialFromFundamental,
  type RecoveredPose,
  recoverPose,
} from "./pose.ts";
export { fourPoint } from "./homography_solvers.ts";
export { estimateFundamentalCpu, estimateHomographyCpu } from "./ransac_cpu.ts";
export { estimateFundamental, estimateHomography, findFundamental } from "./ransac_gpu.ts";
export type {
  FundamentalResult,
  FundamentalSolver,
  HomographyOptions,
  HomographyResult,
  Points,
  RansacOptions,
  ScoreMethod,
  StopReason,
} from "./ransac_options.ts";
export { sampsonError, transferError } from "./scores.ts";
