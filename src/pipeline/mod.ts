/**
 * Pipelines: what runs the model and the geometry on images. The
 * {@link Matcher} (images in, keypoints in original pixels out; `matchMany`
 * computes each image's features once for many pairs), the step after
 * matching (`two_view.ts`: sub-pixel refinement of coarse matches by NCC in
 * `ncc_refinement.ts`, the RANSAC threshold policy, F), and the IMC2022
 * evaluation loop (`evaluate.ts`).
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
export {
  coarseCells,
  estimateFromMatches,
  type PairEstimate,
  type PipelineConfig,
  ransacThreshold,
} from "./two_view.ts";
