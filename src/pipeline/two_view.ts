/**
 * The pipeline after matching, for every caller that scores, submits or
 * reports pairs: optional sub-pixel refinement of coarse matches (NCC search
 * and affine alignment), the union of the matches of both orders of a pair,
 * the RANSAC threshold policy, and robust estimation of F (or of a
 * homography) on the GPU; and the loop that matches a list of image pairs
 * (each image's backbone once) and estimates each. Its defaults
 * ({@link PIPELINE_DEFAULTS}, {@link defaultRefinement}) were chosen by the
 * sweep of bench/results/quality_sweep.md.
 * @module
 */
import { estimateFundamental, estimateHomography } from "../geometry/ransac_gpu.ts";
import type { Precision } from "../gpu/mod.ts";
import type { GrayImage, ImageError } from "../io/image.ts";
import { InputImageError, type Matcher, type MatchOptions, type MatchResult } from "./matcher.ts";
import { nccRefinement } from "./ncc_refinement.ts";
import type { ResizePolicy } from "../io/resize.ts";

/**
 * Sub-pixel refinement of coarse matches ({@link nccRefinement}), for models
 * without a fine stage: `ncc-affine`, NCC search then affine Lucas–Kanade
 * alignment; `ncc`, NCC search with a quadratic peak; `none`, the coarse
 * cells as they come (their top-left corners).
 */
export type Refinement = typeof REFINEMENTS[number];

/** Every {@link Refinement}, the default for coarse-only models first. */
export const REFINEMENTS = ["ncc-affine", "ncc", "none"] as const;

/**
 * Which orders of a pair are matched: `one`, image 0 against image 1;
 * `both`, also image 1 against image 0 (LoFTR's coarse transformer updates
 * the features of image 0 before those of image 1, so the two orders give
 * different matches), the two sets put together (each image's backbone runs
 * once; the transformer, coarse matching and refinement twice).
 */
export type MatchOrders = "one" | "both";

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
  /** Sub-pixel refinement of coarse matches; `none` for a model with a fine stage. */
  refine: Refinement;
  /** Orders of each pair matched. */
  orders: MatchOrders;
  /** RANSAC ({@link estimateFundamental}) parameters; see {@link ransacThreshold} for `auto`. */
  ransac: { threshold: number | "auto"; confidence: number; maxIterations: number; seed: number };
}

/**
 * The defaults of the pipeline (`match`, `eval`, `submit`, `reconstruct`):
 * 800 px on the long side, both orders, an `auto` RANSAC threshold
 * ({@link ransacThreshold}), MAGSAC++ stopping at confidence 0.99999 or
 * 10 000 hypotheses, seed 0; the refinement is {@link defaultRefinement}'s.
 * On relpose_dev (fountain + herzjesu, seeds 0–2) they give pose mAA 0.890
 * against 0.769 for 640 px, one order and the quadratic NCC peak, at 1.6–2 s
 * a pair on lavapipe (bench/results/quality_sweep.md).
 */
export const PIPELINE_DEFAULTS = {
  resize: { longSide: 800 },
  orders: "both",
  ransac: { threshold: "auto", confidence: 0.99999, maxIterations: 10000, seed: 0 },
} as const satisfies Pick<PipelineConfig, "resize" | "orders" | "ransac">;

/** The default refinement: `ncc-affine` for a coarse-only model, `none` with a fine stage. */
export function defaultRefinement(hasFineStage: boolean): Refinement {
  return hasFineStage ? "none" : "ncc-affine";
}

/**
 * The {@link PipelineConfig} of `matcher` (its weights, precision and model)
 * with the defaults ({@link PIPELINE_DEFAULTS}, {@link defaultRefinement},
 * the model's confidence threshold and border removal) and `overrides` on top.
 *
 * @example
 * ```ts
 * const matcher = await Matcher.create();
 * const images = [await loadImage("a.jpg"), await loadImage("b.jpg")] as const;
 * const config = pipelineConfig(matcher); // 800 px, both orders, ncc-affine, auto threshold
 * const e = await estimateFromMatches(matcher, await matchPair(matcher, images, config), images, config);
 * console.log(e.F, e.inlierCount, e.keypoints0.length / 2);
 * ```
 */
export function pipelineConfig(
  matcher: Matcher,
  overrides: Partial<PipelineConfig> = {},
): PipelineConfig {
  return {
    weights: matcher.weightsSource,
    precision: matcher.model.precision,
    threshold: null,
    border: null,
    refine: defaultRefinement(matcher.model.config.fine !== null),
    ...PIPELINE_DEFAULTS,
    ...overrides,
  };
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
  /** Matches from the matcher (of both orders, when both were matched). */
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
  /** Why RANSAC stopped. */
  stop: string;
  /** Why there is no model, when there is none. */
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
 * The RANSAC threshold in pixels of the original images. `auto`: 0.35 px
 * after `ncc-affine` refinement, 1 px after `ncc` or with a model's fine
 * stage, else a third of the larger side of a coarse cell in original pixels
 * (8 px for a 1200×800 photo at 800×528): each the best of a sweep on
 * relpose_dev (bench/results/quality_sweep.md).
 */
export function ransacThreshold(
  threshold: number | "auto",
  refine: Refinement,
  hasFineStage: boolean,
  cells: readonly (readonly [number, number])[],
): number {
  if (threshold !== "auto") return threshold;
  if (refine === "ncc-affine") return 0.35;
  return refine === "ncc" || hasFineStage ? 1 : Math.max(...cells.flat()) / 3;
}

/**
 * The matches of a pair as `estimateFromMatches` takes them: the match of
 * (image 0, image 1), and with `orders: "both"` that of (image 1, image 0).
 */
export type OrderedMatches = readonly [MatchResult] | readonly [MatchResult, MatchResult];

/** Milliseconds per stage of the matching of `matches` (`timings`), summed over the orders. */
export function matchTimings(matches: OrderedMatches): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const m of matches) {
    for (const [stage, ms] of Object.entries(m.timings)) sum[stage] = (sum[stage] ?? 0) + ms;
  }
  return sum;
}

/** Keypoints of one order after refinement, in the order (image 0, image 1) of the pair. */
interface OrderMatches {
  k0: ArrayLike<number>;
  k1: ArrayLike<number>;
  confidence: Float32Array;
}

/** Refines (per `refine`) the match `match` of `images` (its own order). */
function refineOrder(
  match: MatchResult,
  images: readonly [GrayImage, GrayImage],
  refine: Refinement,
  stride: number,
): OrderMatches {
  if (refine === "none") {
    return { k0: match.keypoints0, k1: match.keypoints1, confidence: match.confidence };
  }
  const r = nccRefinement(
    images[0],
    images[1],
    match.keypoints0,
    match.keypoints1,
    coarseCells(images, match, stride),
    { subpixel: refine === "ncc-affine" ? "affine" : "quadratic" },
  );
  return {
    k0: r.keypoints0,
    k1: r.keypoints1,
    confidence: Float32Array.from(r.index, (i) => match.confidence[i]),
  };
}

/** `a` and `b` one after the other. */
function concat<T extends Float32Array | Float64Array>(
  make: (n: number) => T,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): T {
  const out = make(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Refines (per `config.refine`) the matches of a pair between `images` (the
 * decoded images they were computed from), puts the two orders together when
 * `matches` has both (the second one's keypoints swapped back into the
 * pair's order), and estimates F (or, with `model` `homography`, H): the
 * pipeline after matching, for every caller that scores, submits or reports
 * pairs. `ms.match` is the sum of the matches' `timings`. Throws when
 * `refine` is not `none` and the model has a fine stage (its keypoints are
 * already refined), or when `matches` does not hold the orders of
 * `config.orders`.
 */
export async function estimateFromMatches(
  matcher: Matcher,
  matches: OrderedMatches,
  images: readonly [GrayImage, GrayImage],
  config: PipelineConfig,
  model: TwoViewModel = "fundamental",
): Promise<PairEstimate> {
  const { coarseStride: stride, fine } = matcher.model.config;
  if (config.refine !== "none" && fine) {
    throw new Error(
      `refinement ${config.refine} is for coarse-only models; this model has a fine stage`,
    );
  }
  if (matches.length !== (config.orders === "both" ? 2 : 1)) {
    throw new Error(`orders ${config.orders} needs ${config.orders === "both" ? 2 : 1} matches`);
  }
  let t = performance.now();
  const lap = () => {
    const now = performance.now(), ms = now - t;
    t = now;
    return ms;
  };
  const forward = refineOrder(matches[0], images, config.refine, stride);
  let { k0, k1, confidence } = forward;
  if (matches.length === 2) {
    const reverse = refineOrder(matches[1], [images[1], images[0]], config.refine, stride);
    k0 = concat((n) => new Float64Array(n), forward.k0, reverse.k1);
    k1 = concat((n) => new Float64Array(n), forward.k1, reverse.k0);
    confidence = concat((n) => new Float32Array(n), forward.confidence, reverse.confidence);
  }
  const refine = lap();
  const threshold = ransacThreshold(
    config.ransac.threshold,
    config.refine,
    fine !== null,
    coarseCells(images, matches[0], stride),
  );
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
    matches: matches.reduce((sum, m) => sum + m.count, 0),
    keypoints0: k0,
    keypoints1: k1,
    confidence,
    inliers: f.inliers,
    inlierCount: f.inlierCount,
    ransacThreshold: threshold,
    stop: f.stop,
    message: f.message,
    ms: {
      match: Object.values(matchTimings(matches)).reduce((a, b) => a + b, 0),
      refine,
      ransac: lap(),
    },
  };
}

/** The image pairs `matchMany` matches for the pair (a, b) with `orders`: (a, b), then (b, a). */
function orderedPairs(a: number, b: number, orders: MatchOrders): [number, number][] {
  return orders === "both" ? [[a, b], [b, a]] : [[a, b]];
}

/** The {@link MatchOptions} of `config`, with `extra` (e.g. `profile`) on top. */
function matchOptions(config: PipelineConfig, extra: MatchOptions = {}): MatchOptions {
  return {
    resize: config.resize,
    threshold: config.threshold ?? undefined,
    borderRemoval: config.border ?? undefined,
    ...extra,
  };
}

/**
 * Matches image 0 against image 1 and, with `config.orders` `both`, image 1
 * against image 0 ({@link Matcher.matchMany}: each image's backbone once),
 * with the matching options of `config` and `extra`: the input of
 * {@link estimateFromMatches}.
 */
export async function matchPair(
  matcher: Matcher,
  images: readonly [GrayImage, GrayImage],
  config: PipelineConfig,
  extra: MatchOptions = {},
): Promise<OrderedMatches> {
  const out: MatchResult[] = [];
  for await (
    const { pair: _, images: _images, ...m } of matcher.matchMany(
      images,
      orderedPairs(0, 1, config.orders),
      matchOptions(config, extra),
    )
  ) {
    out.push(m);
  }
  return out as unknown as OrderedMatches;
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
 * backbone once, while its pairs last: order the pairs to bound what is held;
 * both orders of a pair one after the other with `orders: "both"`) and
 * estimates F ({@link estimateFromMatches}), yielding each pair as it
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
  const options = matchOptions(config);
  const both = config.orders === "both";
  let left = pairs.map((_, k) => k);
  while (left.length) {
    let done = 0;
    try {
      const orders = left.flatMap((k) => orderedPairs(...ids[k], config.orders));
      let first: MatchResult | null = null;
      for await (const m of matcher.matchMany(paths, orders, options)) {
        if (both && !first) {
          first = m;
          continue;
        }
        const images: [GrayImage, GrayImage] = first ? [m.images[1], m.images[0]] : m.images;
        const matches: OrderedMatches = first ? [first, m] : [m];
        first = null;
        const estimate = await estimateFromMatches(matcher, matches, images, config);
        yield { index: left[done++], images, estimate };
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
