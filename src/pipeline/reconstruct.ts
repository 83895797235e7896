/**
 * LoFTR as the front end of a COLMAP reconstruction (../shared/docs/sfm.md),
 * as steps another program can call one by one:
 *
 * 1. {@link matchIntoStore}: match the chosen pairs (`pair_selection.ts`)
 *    with each image's backbone once ({@link estimatePairs}: NCC refinement
 *    of coarse matches and a first F by GPU RANSAC per pair), each finished
 *    pair inserted into a {@link PairStore} at once, pairs already there
 *    skipped (resume, shards);
 * 2. {@link mergeAndVerify}: each image's keypoints merged across its pairs
 *    ({@link mergeKeypoints}: cells of `cellSize` pixels, one match per
 *    keypoint and pair, so that repeated or near-duplicate matches of a pair
 *    collapse), from every match, the first RANSAC's inliers preferred; then
 *    every pair verified again on the merged keypoints on the GPU (E when
 *    both photos' intrinsics are known, else F) and its inliers kept when
 *    there are at least `minInliers`;
 * 3. `writeColmapDatabase` (`colmap_export.ts`) with the result, for
 *    `colmap mapper`.
 *
 * Every step is deterministic (RANSAC seeded, pairs in the order of the
 * pair list), so that a sharded run merged gives the same database as an
 * unsharded one.
 * @module
 */
import { estimateRelativePose } from "../geometry/relative_pose.ts";
import { estimateFundamental } from "../geometry/ransac_gpu.ts";
import type { Gpu } from "../gpu/mod.ts";
import type { ImageError } from "../io/image.ts";
import { pairKey, type PairStore } from "../io/pair_store.ts";
import { TwoViewConfig } from "../io/colmap_database.ts";
import type { ExportPair } from "./colmap_export.ts";
import type { Matcher } from "./matcher.ts";
import { memoryOrder, type Pair } from "./shard.ts";
import { mergeKeypoints } from "./tracks.ts";
import { estimatePairs, type PipelineConfig } from "./two_view.ts";

/** A photo of a reconstruction: its name (relative to the image folder) and file path. */
export interface PhotoFile {
  /** Name relative to the image folder (COLMAP's `images.name`). */
  name: string;
  /** Path to read it from. */
  path: string;
}

/** What {@link matchIntoStore} reports after each pair. */
export interface MatchEvent {
  /** Position of the pair in the pair list. */
  position: number;
  /** Matches kept (after refinement), both orders together; absent on an error. */
  matches?: number;
  /** The first RANSAC's inliers among them; absent on an error. */
  inliers?: number;
  /** Why the pair could not be matched (an image that cannot be used). */
  error?: ImageError;
}

/**
 * Matches the pairs at `positions` of `pairs` (indices into `photos`) that
 * `store` does not hold yet, in an order that keeps few images' features
 * alive ({@link memoryOrder}), inserting each into `store` as it finishes.
 * A pair whose image cannot be used is reported (`error`) and not stored.
 * Returns the number of pairs matched in this call and the images whose
 * backbone ran (the images of the pairs left to do).
 *
 * With `config.orders` `both` (the default), each pair's matches of both
 * orders are stored together ({@link estimatePairs}). The refinement anchors
 * every match at a coarse-cell centre of the image matched from and moves
 * its other end; matched one way only, a photo's positions in the pairs
 * where it is image 1 are all different and rarely merge into tracks (a
 * point seen by photos b and c through a is then only a track through a).
 * Both ways, every photo has grid-anchored positions in every pair, which
 * merge across pairs.
 */
export async function matchIntoStore(
  matcher: Matcher,
  photos: readonly PhotoFile[],
  pairs: readonly Pair[],
  positions: readonly number[],
  config: PipelineConfig,
  store: PairStore,
  onPair: (event: MatchEvent) => void | Promise<void> = () => {},
): Promise<{ matched: number; images: number }> {
  const done = store.keys();
  const left = positions.filter((k) => {
    const [a, b] = pairs[k];
    return !done.has(pairKey(photos[a].name, photos[b].name));
  });
  const order = memoryOrder(pairs, left);
  const list = order.map((k) => {
    const [a, b] = pairs[k].map((i) => photos[i].path);
    return { image0: a, image1: b };
  });
  let matched = 0;
  for await (const outcome of estimatePairs(matcher, list, config)) {
    const position = order[outcome.index];
    if ("error" in outcome) {
      await onPair({ position, error: outcome.error });
      continue;
    }
    const e = outcome.estimate;
    const [a, b] = pairs[position];
    store.put({
      image0: photos[a].name,
      image1: photos[b].name,
      keypoints0: Float32Array.from(e.keypoints0),
      keypoints1: Float32Array.from(e.keypoints1),
      scores: e.confidence,
      inliers: e.inliers,
      ransacThreshold: e.ransacThreshold,
    });
    matched++;
    await onPair({ position, matches: e.confidence.length, inliers: e.inlierCount });
  }
  return { matched, images: new Set(order.flatMap((k) => pairs[k])).size };
}

/** A matched pair given to {@link mergeAndVerify}: a {@link StoredPair} with image indices. */
export interface MatchedPair {
  /** Index of image 0 in the photo list. */
  image0: number;
  /** Index of image 1. */
  image1: number;
  /** Positions in image 0, `[x, y, …]` (this engine's pixel convention). */
  keypoints0: Float32Array;
  /** Positions in image 1. */
  keypoints1: Float32Array;
  /** Confidence of each match. */
  scores: Float32Array;
  /**
   * The first RANSAC's inlier mask: these matches are preferred in the merge
   * (their positions place the keypoints, they claim keypoints first); the
   * others are merged where they leave room, for the verification to judge.
   */
  inliers: Uint8Array;
  /** That RANSAC's threshold, pixels. */
  ransacThreshold: number;
}

/** Options of {@link mergeAndVerify}. */
export interface VerifyOptions {
  /**
   * Keypoint cell size in pixels of the photos ({@link mergeKeypoints}).
   * {@link DEFAULT_CELL_SIZE} suits the sub-pixel positions of this engine
   * (NCC-refined coarse matches or a fine stage).
   */
  cellSize: number;
  /** Fewest inliers for a pair to be verified (COLMAP's `min_num_inliers` is 15). */
  minInliers: number;
  /**
   * Sampson-distance threshold of the verification in pixels, or `auto`:
   * the pair's first RANSAC threshold plus half a cell, since merging moves
   * a position to its cell's mean (within the cell).
   */
  threshold: number | "auto";
  /** RANSAC's stopping confidence, most hypotheses and seed. */
  ransac: { confidence: number; maxIterations: number; seed: number };
  /**
   * Per photo, its intrinsics K (row-major 3×3, this engine's pixel
   * convention) when known: a pair of two such photos is verified with E
   * (`TwoViewConfig.CALIBRATED`), others with F (`UNCALIBRATED`).
   */
  intrinsics?: readonly (ArrayLike<number> | null)[];
}

/** The keypoint cell size by default, pixels of the photos: 2 (see {@link VerifyOptions}). */
export const DEFAULT_CELL_SIZE = 2;

/** What {@link mergeAndVerify} returns: what `writeColmapDatabase` takes. */
export interface VerifiedMatches {
  /** Per photo, its merged keypoints `[x, y, …]` (this engine's convention). */
  keypoints: Float32Array[];
  /** Per pair (input order): merged matches, and the verified inliers with F/E or none. */
  pairs: ExportPair[];
  /** Pairs with at least `minInliers` inliers. */
  verified: number;
}

/**
 * Merges the keypoints of every photo across `pairs` (every match, the first
 * RANSAC's inliers preferred) and verifies every pair again on the merged
 * keypoints on the GPU, as the module's notes say. The first RANSAC's
 * threshold suits a two-view pose (0.35 px after `ncc-affine`); a match just
 * outside it is still a correct observation for the bundle adjustment, so
 * the verification, at its own threshold, decides, as COLMAP's verifies its
 * own matches (herzjesu: AUC@5° 0.9850 from the first inliers alone, 0.9863
 * from every match; bench/results/sfm_dev.md). `numImages` photos (images
 * without pairs get no keypoints). `onPair` is called after each pair's
 * verification.
 */
export async function mergeAndVerify(
  gpu: Gpu,
  numImages: number,
  pairs: readonly MatchedPair[],
  options: VerifyOptions,
  onPair: (index: number) => void = () => {},
): Promise<VerifiedMatches> {
  const merged = mergeKeypoints(
    pairs.map((p) => ({ ...p, preferred: p.inliers })),
    { cellSize: options.cellSize, numImages },
  );
  const out: ExportPair[] = [];
  let verified = 0;
  for (const [i, p] of pairs.entries()) {
    const matches = merged.matches[i], n = matches.length / 2;
    const kp0 = merged.keypoints[p.image0], kp1 = merged.keypoints[p.image1];
    const x0 = new Float64Array(2 * n), x1 = new Float64Array(2 * n);
    for (let m = 0; m < n; m++) {
      const a = matches[2 * m], b = matches[2 * m + 1];
      x0[2 * m] = kp0[2 * a];
      x0[2 * m + 1] = kp0[2 * a + 1];
      x1[2 * m] = kp1[2 * b];
      x1[2 * m + 1] = kp1[2 * b + 1];
    }
    const threshold = options.threshold === "auto"
      ? p.ransacThreshold + options.cellSize / 2
      : options.threshold;
    const ransac = { ...options.ransac, threshold };
    const K0 = options.intrinsics?.[p.image0], K1 = options.intrinsics?.[p.image1];
    let inliers: Uint32Array | null = null, F = null, E = null;
    if (n >= Math.max(options.minInliers, 8)) {
      const r = K0 && K1
        ? await estimateRelativePose(gpu, x0, x1, K0, K1, ransac)
        : { ...await estimateFundamental(gpu, x0, x1, ransac), E: null };
      if (r.F && r.inlierCount >= options.minInliers) {
        inliers = new Uint32Array(2 * r.inlierCount);
        let k = 0;
        for (let m = 0; m < n; m++) {
          if (!r.inliers[m]) continue;
          inliers[k++] = matches[2 * m];
          inliers[k++] = matches[2 * m + 1];
        }
        F = r.F;
        E = r.E;
        verified++;
      }
    }
    out.push({
      image0: p.image0,
      image1: p.image1,
      matches,
      inliers,
      F,
      E,
      config: E ? TwoViewConfig.CALIBRATED : TwoViewConfig.UNCALIBRATED,
    });
    onPair(i);
  }
  return { keypoints: merged.keypoints, pairs: out, verified };
}
