/**
 * The model: LoFTR as a plain sequence of stages, GPU tensors in and out,
 * nothing read back between them but the final match list ({@link LoFTR}):
 *
 *   backbone (`backbone.ts`, ResNet-FPN) → positional encoding
 *   (`position_encoding.ts`) → coarse transformer (`transformer.ts`)
 *   → coarse matching (`coarse_matching.ts`, dual softmax) → fine refinement
 *   (`fine_refinement.ts`, models with a fine stage)
 *
 * The architecture is inferred from the weight shapes (`architecture.ts`);
 * the parameters are host tensors uploaded with their shapes checked
 * (`parameters.ts`). Platform-neutral.
 * @module
 */
export {
  ArchitectureError,
  type BackboneVariant,
  type ConfigOverrides,
  inferConfig,
  type LayerKind,
  type LoftrConfig,
  type PosEncoding,
  type ShapeMap,
  type TransformerConfig,
} from "./architecture.ts";
export {
  type Backbone,
  type BackboneOptions,
  type BackboneOutput,
  type BackboneRunOptions,
  type BatchNorm,
  createBackbone,
  foldBatchNorm,
} from "./backbone.ts";
export {
  type CoarseMatches,
  coarseMatching,
  type CoarseMatchingOptions,
  type GridSize,
  readMatches,
  uploadMatches,
} from "./coarse_matching.ts";
export {
  DEFAULT_FINE_BATCH,
  type FineInput,
  type FineOutput,
  FineRefinement,
  type FineRunOptions,
} from "./fine_refinement.ts";
export { type GpuMatchList, type ImageFeatures, LoFTR, type LoftrMatchOptions } from "./loftr.ts";
export {
  type HostTensor,
  type ModelWeights,
  type TensorSource,
  uploadLinear,
  uploadParameter,
} from "./parameters.ts";
export { positionEncoding, positionEncodingAxes } from "./position_encoding.ts";
export { Transformer } from "./transformer.ts";
