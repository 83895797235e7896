/**
 * deno-loftr: LoFTR image matching (detector-free local feature matching with
 * transformers) written as WGSL compute shaders on Deno's WebGPU.
 *
 * ```ts
 * import { Matcher } from "./mod.ts";
 *
 * const matcher = await Matcher.create(); // bundled distilled coarse LoFTR
 * const m = await matcher.match("a.jpg", "b.jpg");
 * console.log(m.count, m.keypoints0, m.keypoints1, m.confidence);
 * matcher.destroy();
 * ```
 *
 * Permissions: `--allow-read` (weights, shaders and images) and, to keep
 * Mesa's CPU adapter quiet, `--allow-env`.
 *
 * @module
 */

import { quietMesaWarning } from "./src/io/mesa.ts";

quietMesaWarning();

export {
  type ImageInput,
  InputImageError,
  Matcher,
  type MatcherOptions,
  type MatchOptions,
  type MatchResult,
} from "./src/pipeline/matcher.ts";
export {
  BUNDLED_WEIGHTS,
  convertCheckpoint,
  type ConvertOptions,
  loadWeights,
} from "./src/io/weights.ts";
export {
  ArchitectureError,
  type BackboneVariant,
  type ConfigOverrides,
  type LayerKind,
  type LoftrConfig,
  type PosEncoding,
  type TransformerConfig,
} from "./src/model/architecture.ts";
export {
  decodeImage,
  DEFAULT_RESIZE_POLICY,
  grayFromArray,
  type GrayImage,
  ImageError,
  loadImage,
  type ResizePolicy,
} from "./src/io/image.ts";
export { drawMatches, type DrawMatchesOptions } from "./src/io/viz.ts";
export { CheckpointError } from "./src/io/checkpoint/torch.ts";
export {
  DEFAULT_MEMORY_BUDGET,
  type Dispatch,
  type DType,
  Gpu,
  GpuError,
  type GpuOptions,
  type HostArray,
  type KernelTiming,
  type KernelTuning,
  type LiveDispatch,
  type LiveSlots,
  type MemoryStats,
  type Precision,
  type Tensor,
} from "./src/gpu/mod.ts";
export type { GpuMatchList, ImageFeatures, LoFTR, LoftrMatchOptions } from "./src/model/loftr.ts";
export type { GridSize } from "./src/model/coarse_matching.ts";
export type { Mat3, Vec3 } from "./src/geometry/linalg.ts";
export { estimateFundamental, findFundamental } from "./src/geometry/ransac_gpu.ts";
export { eightPoint, enforceRank2, sevenPoint } from "./src/geometry/fundamental_solvers.ts";
export { estimateFundamentalCpu } from "./src/geometry/ransac_cpu.ts";
export type {
  FundamentalResult,
  FundamentalSolver,
  Points,
  RansacOptions,
  ScoreMethod,
  StopReason,
} from "./src/geometry/ransac_options.ts";
export { sampsonError } from "./src/geometry/scores.ts";
export {
  decomposeEssential,
  type EssentialDecomposition,
  essentialFromFundamental,
  type RecoveredPose,
  recoverPose,
} from "./src/geometry/pose.ts";
export {
  maa,
  type MaaResult,
  pairAccuracy,
  type PairTruth,
  type PoseErrors,
  poseErrors,
  rotationError,
  translationError,
} from "./src/geometry/metric.ts";
export type { HostTensor, ModelWeights } from "./src/model/parameters.ts";
