/**
 * The pipeline after matching, for every caller that scores, submits or
 * reports pairs: optional sub-pixel refinement of coarse matches (NCC), the
 * RANSAC threshold policy, and robust estimation of F (or of a homography) on
 * the GPU; and the loop that matches a list of image pairs (each image's
 * backbone once) and estimates each.
 * @module
 */
import { estimateFundamental, estimateHomography } from "../geometry/ransac_gpu.ts";
import type { Precision } from "../gpu/mod.ts";
import type { GrayImage, ImageError } from "../io/image.ts";
import { InputImageError, type Matcher, type MatchResult } from "./matcher.ts";
import { nccRefinement } from "./ncc_refinement.ts";
import type { ResizePolicy } from "../io/resize.ts";

/** Everything that decides a pair's result; recorded in the results file's header. */
export interface PipelineConfig {
  /** Where the weights came from ({@link Matcher.weightsSource}). */
  weights: string;
  /** Precision of the backbone (`MatcherOptions.precision`). */
  precision: Precision;
  /** Network input size policy. */
  resize: ResizePolicy;
  /** Confidence threshold, or `null` for the model's. */
  threshold: number | null;
  /** Border removal in coarse cells, or `null` for the model's. */
  border: number | null;
  /** Sub-pixel refinement of coarse matches: `ncc` ({@link nccRefinement}) or `none`. */
  refine: "ncc" | "none";
  /** RANSAC ({@link estimateFundamental}) parameters; see {@link ransacThreshold} for `auto`. */
  ransac: { threshold: number | "auto"; confidence: number; maxIterations: number; seed: number };
}

/** The two-view model the pipeline estimates: F (default) or a homography. */
export type TwoViewModel = "fundamental" | "homography";

/** What the pipeline found for one pair. */
export interface PairEstimate {
  /** The model estimated. */
  model: TwoViewModel;
  /** F (`x1ᵀ F x0 = 0`, unit norm), or `null` when RANSAC found none or H was asked for. */
  F: Float64Array | null;
  /** H (`x1 ~ H x0`, unit norm), or `null` when RANSAC found none or F was asked for. */
  H: Float64Array | null;
  /** Matches from the matcher. */
  matches: number;
  /** Matches given to RANSAC (after refinement, which drops unmatched patches). */
  keypoints0: ArrayLike<number>;
  /** Their partners in image 1. */
  keypoints1: ArrayLike<number>;
  /** The matcher's confidence of each of them. */
  confidence: Float32Array;
  /** RANSAC's inlier mask over `keypoints0`/`keypoints1`. */
  inliers: Uint8Array;
  /** Number of inliers. */
  inlierCount: number;
  /** RANSAC threshold used, pixels. */
  ransacThreshold: number;
  /** Why RANSAC stopped, and its message when there is no F. */
  stop: string;
  message?: string;
  /**
   * Milliseconds of matching (the sum of the match's `timings`: with
   * {@link Matcher.matchMany}, this includes decoding and the backbone of the
   * images the pair was the first to use), refinement and RANSAC.
   */
  ms: { match: number; refine: number; ransac: number };
}

/** Width and height, in original pixels, of one coarse cell of each image of a match. */
export function coarseCells(
  images: readonly { width: number; height: number }[],
  match: MatchResult,
  stride: number,
): [[number, number], [number, number]] {
  const cell = (k: number): [number, number] => [
    (images[k].width / match.inputSizes[k].width) * stride,
    (images[k].height / match.inputSizes[k].height) * stride,
  ];
  return [cell(0), cell(1)];
}

/**
 * The RANSAC threshold in pixels of the original images. `auto`: 1 px for
 * sub-pixel keypoints (NCC refinement, or a model with a fine stage), else a
 * third of the larger side of a coarse cell in original pixels (10 px for a
 * 1200×800 photo at 640×432): the best of 1–16 px on relpose_dev.
 */
export function ransacThreshold(
  threshold: number | "auto",
  subPixel: boolean,
  cells: readonly (readonly [number, number])[],
): number {
  if (threshold !== "auto") return threshold;
  return subPixel ? 1 : Math.max(...cells.flat()) / 3;
}

/**
 * Refines (per `config.refine`) the matches `match` between `images` (the
 * decoded images it was computed from) and estimates F (or, with `model`
 * `homography`, H): the pipeline after matching, for every caller that
 * scores, submits or reports pairs. `ms.match` is the sum of
 * `match.timings`. Throws when `refine` is `ncc` and the model has a fine
 * stage (its keypoints are already refined).
 */
export async function estimateFromMatches(
  matcher: Matcher,
  match: MatchResult,
  images: readonly [GrayImage, GrayImage],
  config: PipelineConfig,
  model: TwoViewModel = "fundamental",
): Promise<PairEstimate> {
  const { coarseStride: stride, fine } = matcher.model.config;
  if (config.refine === "ncc" && fine) {
    throw new Error("NCC refinement is for coarse-only models; this model has a fine stage");
  }
  let t = performance.now();
  const lap = () => {
    const now = performance.now(), ms = now - t;
    t = now;
    return ms;
  };
  const cells = coarseCells(images, match, stride);
  let k0: ArrayLike<number> = match.keypoints0, k1: ArrayLike<number> = match.keypoints1;
  let confidence = match.confidence;
  if (config.refine === "ncc") {
    const r = nccRefinement(images[0], images[1], k0, k1, cells);
    [k0, k1] = [r.keypoints0, r.keypoints1];
    confidence = Float32Array.from(r.index, (i) => match.confidence[i]);
  }
  const refine = lap();
  const subPixel = config.refine === "ncc" || fine !== null;
  const threshold = ransacThreshold(config.ransac.threshold, subPixel, cells);
  const options = {
    threshold,
    confidence: config.ransac.confidence,
    maxIterations: config.ransac.maxIterations,
    seed: config.ransac.seed,
  };
  const f = model === "homography"
    ? { ...await estimateHomography(matcher.gpu, k0, k1, options), F: null }
    : { ...await estimateFundamental(matcher.gpu, k0, k1, options), H: null };
  return {
    model,
    F: f.F,
    H: f.H,
    matches: match.count,
    keypoints0: k0,
    keypoints1: k1,
    confidence,
    inliers: f.inliers,
    inlierCount: f.inlierCount,
    ransacThreshold: threshold,
    stop: f.stop,
    message: f.message,
    ms: {
      match: Object.values(match.timings).reduce((a, b) => a + b, 0),
      refine,
      ransac: lap(),
    },
  };
}

/** Two image files to match: an {@link EvalPair}, or a sample of a submission. */
export interface ImagePair {
  /** Path of image 0 (the image of x0 in `x1ᵀ F x0 = 0`). */
  image0: string;
  /** Path of image 1. */
  image1: string;
}

/**
 * What {@link estimatePairs} gives for the pair `index` of its list: the
 * estimate and the two decoded images, or the error of an image of the pair
 * that cannot be used.
 */
export type PairOutcome =
  | { index: number; images: [GrayImage, GrayImage]; estimate: PairEstimate }
  | { index: number; error: ImageError };

/**
 * Matches every pair of `pairs` with {@link Matcher.matchMany} (each image's
 * backbone once, while its pairs last: order the pairs to bound what is held)
 * and estimates F ({@link estimateFromMatches}), yielding each pair as it
 * finishes, in the given order. An image that cannot be read or used gives
 * its {@link ImageError} for each of its pairs not yet yielded, all at once
 * when it is found; matching then restarts on the other pairs left, computing
 * again the features of the images they share with the pairs done.
 */
export async function* estimatePairs(
  matcher: Matcher,
  pairs: readonly ImagePair[],
  config: PipelineConfig,
): AsyncGenerator<PairOutcome> {
  const paths = [...new Set(pairs.flatMap((p) => [p.image0, p.image1]))];
  const index = new Map(paths.map((path, i) => [path, i]));
  const ids = pairs.map((p): [number, number] => [index.get(p.image0)!, index.get(p.image1)!]);
  const options = {
    resize: config.resize,
    threshold: config.threshold ?? undefined,
    borderRemoval: config.border ?? undefined,
  };
  let left = pairs.map((_, k) => k);
  while (left.length) {
    let done = 0;
    try {
      for await (const m of matcher.matchMany(paths, left.map((k) => ids[k]), options)) {
        const estimate = await estimateFromMatches(matcher, m, m.images, config);
        yield { index: left[done++], images: m.images, estimate };
      }
      return;
    } catch (e) {
      if (!(e instanceof InputImageError)) throw e;
      left = left.slice(done);
      for (const k of left) if (ids[k].includes(e.index)) yield { index: k, error: e };
      left = left.filter((k) => !ids[k].includes(e.index));
    }
  }
}
