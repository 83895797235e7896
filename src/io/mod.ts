/**
 * Input and output, at the edge of the engine: images (`image.ts` the gray
 * image and the platform-neutral steps of reading one, `decode.ts` files and
 * bytes through imagescript's decoders in `codecs.ts`, `resize.ts` the input
 * size policy and OpenCV's INTER_AREA), weights (`load_weights.ts` our
 * safetensors files from bytes or any URL, `read_file.ts` from a path,
 * `weights.ts` the checkpoint converter, `safetensors.ts`, `checkpoint/` a
 * pickle reader that never runs code, `model_zoo.ts` downloads to the user
 * cache), drawings (`draw.ts` bitmaps, `viz.ts` and `chart.ts` PNGs),
 * datasets with ground truth (`dataset.ts`) and resumable results files
 * (`results_file.ts`). image.ts, resize.ts, load_weights.ts and draw.ts are
 * platform-neutral: the web page (web/) runs them too.
 * @module
 */
export { CheckpointError } from "./checkpoint/torch.ts";
export { decodeImage, loadImage } from "./decode.ts";
export { grayFromArray, type GrayImage, ImageError } from "./image.ts";
export { resolveModel } from "./model_zoo.ts";
export {
  DEFAULT_RESIZE_POLICY,
  type InputSize,
  inputSize,
  resizeArea,
  type ResizePolicy,
} from "./resize.ts";
export { type DrawMatchesOptions } from "./draw.ts";
export { drawMatches } from "./viz.ts";
export { BUNDLED_WEIGHTS, convertCheckpoint, type ConvertOptions, loadWeights } from "./weights.ts";
