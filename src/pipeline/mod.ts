/**
 * Pipelines: what runs the model and the geometry on images. The
 * {@link Matcher} (images in, keypoints in original pixels out; `matchMany`
 * computes each image's features once for many pairs), the step after
 * matching (`two_view.ts`: both orders of a pair, sub-pixel refinement of
 * coarse matches by NCC search and affine alignment in `ncc_refinement.ts` and
 * `lucas_kanade.ts`, the RANSAC threshold policy, F), the IMC2022 evaluation
 * loop (`evaluate.ts`), and the front end of a COLMAP reconstruction: pair
 * selection (`pair_selection.ts`), matching into a resumable pair store and
 * keypoint merge + GPU verification (`reconstruct.ts`, `tracks.ts`), the
 * COLMAP database (`colmap_export.ts`) and sharding for array jobs
 * (`shard.ts`).
 * @module
 */
export {
  type ImageInput,
  InputImageError,
  Matcher,
  type MatcherOptions,
  type MatchOptions,
  type MatchResult,
} from "./matcher.ts";
export { nccRefinement, type RefinedMatches, type RefineOptions } from "./ncc_refinement.ts";
export { type AffineAlignment, alignAffine } from "./lucas_kanade.ts";
export {
  coarseCells,
  defaultRefinement,
  estimateFromMatches,
  estimatePairs,
  type ImagePair,
  type MatchOrders,
  matchPair,
  matchTimings,
  type OrderedMatches,
  type PairEstimate,
  type PairOutcome,
  PIPELINE_DEFAULTS,
  type PipelineConfig,
  pipelineConfig,
  ransacThreshold,
  type Refinement,
  REFINEMENTS,
  type TwoViewModel,
} from "./two_view.ts";
export {
  assignCameras,
  type CameraAssignment,
  type CameraSetup,
  type ExportImage,
  type ExportPair,
  writeColmapDatabase,
  type WriteDatabaseOptions,
  type WrittenDatabase,
} from "./colmap_export.ts";
export {
  exhaustivePairs,
  type PairList,
  parsePairList,
  sequentialPairs,
} from "./pair_selection.ts";
export {
  DEFAULT_CELL_SIZE,
  type MatchedPair,
  type MatchEvent,
  matchIntoStore,
  mergeAndVerify,
  type PhotoFile,
  type VerifiedMatches,
  type VerifyOptions,
} from "./reconstruct.ts";
export type { Pair } from "./shard.ts";
export {
  type MergedKeypoints,
  mergeKeypoints,
  type MergeKeypointsOptions,
  type PairMatches,
} from "./tracks.ts";
