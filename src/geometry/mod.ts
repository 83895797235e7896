/**
 * Geometry, in float64 on the CPU and on the GPU: robust estimation of the
 * fundamental matrix split as PoseLib splits it (`ransac_options.ts` the
 * options and results; `matches.ts` input checks and Hartley normalisation;
 * `sampling.ts` the counter-based sample draw; `fundamental_solvers.ts` the
 * 7- and 8-point solvers; `scores.ts` Sampson error, MAGSAC++ and MSAC;
 * `local_optimization.ts` iteratively reweighted 8-point; `degensac.ts` plane
 * recovery; `ransac.ts` the loop both estimators share), the float64
 * estimator (`ransac_cpu.ts`) beside the GPU one (`ransac_gpu.ts`, its
 * kernels in kernels/ransac.wgsl); relative pose from E (`pose.ts`); the
 * IMC2022 metric (`metric.ts`); 3×3 linear algebra (`linalg.ts`).
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
export {
  decomposeEssential,
  type EssentialDecomposition,
  essentialFromFundamental,
  type RecoveredPose,
  recoverPose,
} from "./pose.ts";
export { estimateFundamentalCpu } from "./ransac_cpu.ts";
export { estimateFundamental, findFundamental } from "./ransac_gpu.ts";
export type {
  FundamentalResult,
  FundamentalSolver,
  Points,
  RansacOptions,
  ScoreMethod,
  StopReason,
} from "./ransac_options.ts";
export { sampsonError } from "./scores.ts";
