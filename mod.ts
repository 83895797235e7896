/**
 * deno-loftr: LoFTR image matching (detector-free local feature matching with
 * transformers) written as WGSL compute shaders on WebGPU, with the geometry
 * that follows matching: robust estimation of the fundamental matrix on the
 * GPU, relative pose, and the IMC2022 metric.
 *
 * ```ts
 * import { estimateFundamental, Matcher } from "./mod.ts";
 *
 * const matcher = await Matcher.create(); // bundled distilled coarse LoFTR
 * const m = await matcher.match("a.jpg", "b.jpg");
 * console.log(m.count, m.keypoints0, m.keypoints1, m.confidence);
 * const f = await estimateFundamental(matcher.gpu, m.keypoints0, m.keypoints1);
 * console.log(f.F, f.inlierCount); // x1ᵀ F x0 = 0
 * matcher.destroy();
 * ```
 *
 * Reconstruction (LoFTR as the front end of COLMAP): `exhaustivePairs`,
 * `matchIntoStore` (a resumable `PairStore`), `mergeAndVerify`,
 * `writeColmapDatabase`, then `colmap mapper`, and `readColmapModel`; what
 * `deno task reconstruct` chains (README.md, "Reconstruction").
 *
 * This is the API a user of a matcher needs. Kernels, model stages and the
 * GPU layer are exported by the advanced entry point `./gpu` (gpu.ts).
 *
 * Permissions: `--allow-read` (weights, shaders and images) and, to keep
 * Mesa's CPU adapter quiet, `--allow-env`; `--allow-write` for a pair store
 * or a COLMAP database.
 *
 * @module
 */
import { quietMesaWarning } from "./src/io/mesa.ts";

quietMesaWarning();

export {
  assignCameras,
  type CameraAssignment,
  type CameraSetup,
  DEFAULT_CELL_SIZE,
  defaultRefinement,
  estimateFromMatches,
  exhaustivePairs,
  type ExportImage,
  type ExportPair,
  type ImageInput,
  InputImageError,
  type MatchedPair,
  Matcher,
  type MatcherOptions,
  type MatchEvent,
  matchIntoStore,
  type MatchOptions,
  type MatchOrders,
  matchPair,
  type MatchResult,
  mergeAndVerify,
  type MergedKeypoints,
  mergeKeypoints,
  type MergeKeypointsOptions,
  nccRefinement,
  type OrderedMatches,
  type Pair,
  type PairEstimate,
  type PairList,
  type PairMatches,
  parsePairList,
  type PhotoFile,
  PIPELINE_DEFAULTS,
  type PipelineConfig,
  pipelineConfig,
  type RefinedMatches,
  type Refinement,
  REFINEMENTS,
  type RefineOptions,
  sequentialPairs,
  type TwoViewModel,
  type VerifiedMatches,
  type VerifyOptions,
  writeColmapDatabase,
  type WriteDatabaseOptions,
  type WrittenDatabase,
} from "./src/pipeline/mod.ts";
export { PairStore, type PairStoreHeader, type StoredPair } from "./src/io/pair_store.ts";
export {
  type ColmapModel,
  type ModelCamera,
  type ModelImage,
  type ModelPoint,
  readColmapModel,
} from "./src/io/colmap_model.ts";
export type { CameraModelName } from "./src/io/colmap_cameras.ts";
export { type CameraSpec, type PixelConvention, TwoViewConfig } from "./src/io/colmap_database.ts";
export type { Quaternion } from "./src/geometry/quaternion.ts";
export {
  BUNDLED_WEIGHTS,
  CheckpointError,
  convertCheckpoint,
  type ConvertOptions,
  decodeImage,
  DEFAULT_RESIZE_POLICY,
  drawMatches,
  type DrawMatchesOptions,
  grayFromArray,
  type GrayImage,
  ImageError,
  loadImage,
  loadWeights,
  type ResizePolicy,
} from "./src/io/mod.ts";
export {
  decomposeEssential,
  type EssentialDecomposition,
  essentialFromFundamental,
  estimateFundamental,
  estimateFundamentalCpu,
  estimateHomography,
  estimateHomographyCpu,
  estimateRelativePose,
  findFundamental,
  type FundamentalResult,
  type FundamentalSolver,
  type HomographyOptions,
  type HomographyResult,
  intrinsics,
  maa,
  type MaaResult,
  type Mat3,
  pairAccuracy,
  type PairTruth,
  type Points,
  type PoseErrors,
  poseErrors,
  type RansacOptions,
  type RecoveredPose,
  recoverPose,
  type RelativePoseResult,
  sampsonError,
  type ScoreMethod,
  type StopReason,
  transferError,
  type Vec3,
} from "./src/geometry/mod.ts";
export {
  Gpu,
  GpuError,
  type GpuOptions,
  type KernelTuning,
  type Precision,
} from "./src/gpu/mod.ts";
export { ArchitectureError, type LoftrConfig, type ModelWeights } from "./src/model/mod.ts";
