/**
 * The kernels: each family a WGSL file with the TypeScript module that
 * dispatches it beside it (`linear.ts` + `linear.wgsl`, …). A module checks
 * shapes, picks the entry point and workgroup shape for the device's kernel
 * tuning, fills the kernel's uniforms and bindings by the names its WGSL
 * declares, and counts FLOPs and bytes for the profiler. Shared WGSL lives in
 * `include/` (the folded grid index, the activations). Tensors in, tensors
 * out, nothing read back. Platform-neutral, like the GPU layer below it.
 *
 * | family | used by |
 * | --- | --- |
 * | `conv2d` (whole maps and row strips), `cast` (f32 ↔ f16) | backbone |
 * | `position_encoding` | positional encoding |
 * | `linear`, `linear_attention`, `layer_norm` | coarse and fine transformers, similarity |
 * | `dual_softmax` | coarse matching |
 * | `fine_windows`, `fine_matching` | fine refinement |
 * | `ransac` | robust estimation (geometry/ransac_gpu.ts) |
 * @module
 */
export { type Activation, ACTIVATION_CODE } from "./activation.ts";
export { cast } from "./cast.ts";
export {
  conv2d,
  conv2dInputRows,
  type Conv2dOptions,
  conv2dOutputShape,
  conv2dStrip,
  type Conv2dWeights,
  conv2dWeights,
  type ConvActivation,
  type MapStrip,
  type RowRange,
  wholeMap,
} from "./conv2d.ts";
export {
  type DualSoftmaxProblem,
  type DualSoftmaxState,
  type GpuMatches,
  lineBest,
  lineStats,
  mutualMatches,
  type SimilarityTile,
  tileConfidence,
} from "./dual_softmax.ts";
export { type FineExpectation, fineExpectation } from "./fine_matching.ts";
export {
  fineWindows,
  gatherRows,
  liveSlots,
  type MatchBatch,
  type Side,
  type WindowGeometry,
} from "./fine_windows.ts";
export { layerNorm, type LayerNormWeights } from "./layer_norm.ts";
export { linear, type LinearActivation, type LinearOptions, type LinearWeights } from "./linear.ts";
export { linearAttention } from "./linear_attention.ts";
export { addPositionEncoding } from "./position_encoding.ts";
export {
  type RansacProblem,
  type RansacRecord,
  readRecord,
  RECORD_FLOATS,
  scoreHypotheses,
  screenRecords,
} from "./ransac.ts";
