/**
 * The IMC2022 evaluation loop: match the pairs (LoFTR, each image's backbone
 * once), then per pair optionally refine the coarse matches
 * ({@link nccRefinement}), estimate F (GPU RANSAC), score it against the
 * ground truth ({@link poseErrors}); results appended to a JSON Lines file as
 * each pair finishes, so that a rerun with the same file skips what is done.
 * The same pipeline ({@link estimatePairs}) writes submissions.
 * @module
 */
import { maa, pairAccuracy, poseErrors } from "../geometry/metric.ts";
import type { BadRow, Dataset, EvalPair } from "../io/dataset.ts";
import type { GrayImage } from "../io/image.ts";
import { ResultsFile } from "../io/results_file.ts";
import type { Matcher } from "./matcher.ts";
import { estimatePairs, type PairEstimate, type PipelineConfig } from "./two_view.ts";

/** One evaluated pair, as a line of the results file. */
export interface PairRecord {
  /** Pair id `dataset;scene;pair`. */
  id: string;
  scene: string;
  /** Matches from the matcher, and given to RANSAC (after refinement). */
  matches: number;
  used: number;
  /** RANSAC inliers. */
  inliers: number;
  /** Rotation error in degrees, translation error in metres; `null` without F (a failure). */
  errQ: number | null;
  errT: number | null;
  /** Fraction of the 10 mAA thresholds passed. */
  accuracy: number;
  /** F row-major, or `null`. */
  F: number[] | null;
  /** RANSAC's stop reason, and its message when there is no F. */
  stop: string;
  message?: string;
  /**
   * Milliseconds per step ({@link PairEstimate.ms}): `match` includes the
   * decoding and backbone of the images this pair was the first of its run to
   * use, so it is larger for a scene's first pairs than for later ones.
   */
  ms: { match: number; refine: number; ransac: number };
  /**
   * Set when an image could not be read or is too small: the pair is not
   * scored (and is retried on resume).
   */
  error?: string;
}

/**
 * Opens (or creates) the results file of an evaluation run with `config`
 * and, where given, the dataset's folder `data` (see {@link ResultsFile.open};
 * its first line is marked `deno-loftr-eval`).
 */
export function openEvalResults(
  path: string,
  config: PipelineConfig & { data?: string },
): Promise<ResultsFile<PairRecord>> {
  return ResultsFile.open<PairRecord>(
    path,
    { key: "deno-loftr-eval", producer: "deno task eval" },
    { ...config },
  );
}

/** What {@link evaluate} reports after each pair. */
export interface PairEvent {
  pair: EvalPair;
  record: PairRecord;
  /** The decoded images and the estimate, when the pair was computed (not when an image failed). */
  images?: [GrayImage, GrayImage];
  estimate?: PairEstimate;
}

/**
 * Evaluates every pair of `dataset` not yet in `results`, appending each
 * record as it finishes; `onPair` is called after each. Each scene's pending
 * pairs are matched by one {@link estimatePairs} run, in dataset order, so an
 * image's backbone runs once per scene it is in (and again after an
 * unreadable image is found, see {@link estimatePairs}). Returns the records
 * of all the dataset's pairs, old and new, in dataset order. An image that
 * cannot be read gives a record with `error` (not scored) for each of its
 * pairs; any other failure throws, the finished pairs staying in the file.
 */
export async function evaluate(
  matcher: Matcher,
  dataset: Dataset,
  config: PipelineConfig,
  results: ResultsFile<PairRecord>,
  onPair: (event: PairEvent) => void | Promise<void> = () => {},
): Promise<PairRecord[]> {
  const unread = new Map<string, PairRecord>();
  const pending = dataset.pairs.filter((p) => !results.done.has(p.id));
  // What is held (features on the GPU, decoded images on the host): the
  // images of the current scene whose pending pairs have started but not all
  // finished, at most the scene's images; nothing of another scene.
  for (const pairs of Map.groupBy(pending, (p) => p.scene).values()) {
    for await (const outcome of estimatePairs(matcher, pairs, config)) {
      const pair = pairs[outcome.index];
      if ("error" in outcome) {
        const record = failedRecord(pair, outcome.error.message);
        unread.set(pair.id, record);
        await results.append(record);
        await onPair({ pair, record });
        continue;
      }
      const { estimate, images } = outcome;
      const errors = poseErrors(estimate.F, pair);
      const finite = (v: number) => (Number.isFinite(v) ? v : null);
      const record: PairRecord = {
        id: pair.id,
        scene: pair.scene,
        matches: estimate.matches,
        used: estimate.keypoints0.length / 2,
        inliers: estimate.inlierCount,
        errQ: finite(errors.errQ),
        errT: finite(errors.errT),
        accuracy: pairAccuracy(errors),
        F: estimate.F ? Array.from(estimate.F) : null,
        stop: estimate.stop,
        ...(estimate.message ? { message: estimate.message } : {}),
        ms: estimate.ms,
      };
      await results.append(record);
      await onPair({ pair, record, images, estimate });
    }
  }
  return dataset.pairs.map((p) => results.done.get(p.id) ?? unread.get(p.id)!);
}

function failedRecord(pair: EvalPair, error: string): PairRecord {
  return {
    id: pair.id,
    scene: pair.scene,
    matches: 0,
    used: 0,
    inliers: 0,
    errQ: null,
    errT: null,
    accuracy: 0,
    F: null,
    stop: "image-error",
    ms: { match: 0, refine: 0, ransac: 0 },
    error,
  };
}

/** One scene's line of the evaluation table. */
export interface SceneSummary {
  scene: string;
  /** Rows of the dataset (selected) for this scene, scoreable or not. */
  listed: number;
  /** Pairs scored. */
  scored: number;
  /** mAA over the scored pairs (`null` when none). */
  maa: number | null;
  /** Median rotation (degrees) and translation (metres) errors; a pair without F counts as ∞. */
  medianErrQ: number | null;
  medianErrT: number | null;
  /** Scored pairs without an F. */
  noF: number;
  /** Median matches, and median milliseconds per pair (all steps). */
  medianMatches: number | null;
  medianMs: number | null;
}

/** The evaluation table. */
export interface EvalSummary {
  scenes: SceneSummary[];
  /** Plain mean of the scenes' mAA (scenes with a scored pair). */
  mean: number | null;
  listed: number;
  scored: number;
  /** Listed rows that could not be scored, with the reason (bad rows, unreadable images). */
  notScored: BadRow[];
}

const median = (v: number[]): number | null => {
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/**
 * The per-scene table of an evaluation: `records` (from {@link evaluate}) of
 * `dataset`'s pairs, with its bad rows counted as listed but not scored.
 */
export function summarize(dataset: Dataset, records: PairRecord[]): EvalSummary {
  const pairs = new Map(dataset.pairs.map((p) => [p.id, p]));
  const scored = records.filter((r) => !r.error);
  const notScored: BadRow[] = [
    ...dataset.bad,
    ...records.filter((r) => r.error).map((r) => ({
      where: pairs.get(r.id)?.image0 ?? r.id,
      scene: r.scene,
      id: r.id,
      reason: r.error!,
    })),
  ];
  const errors = scored.map((r) => ({
    scene: r.scene,
    errQ: r.errQ ?? Infinity,
    errT: r.errT ?? Infinity,
  }));
  const result = maa(errors);
  const names = [
    ...new Set([
      ...dataset.pairs.map((p) => p.scene),
      ...dataset.bad.flatMap((b) => b.scene ?? []),
    ]),
  ].sort();
  const scenes = names.map((scene): SceneSummary => {
    const mine = scored.filter((r) => r.scene === scene);
    const mineErrors = errors.filter((e) => e.scene === scene);
    return {
      scene,
      listed: dataset.pairs.filter((p) => p.scene === scene).length +
        dataset.bad.filter((b) => b.scene === scene).length,
      scored: mine.length,
      maa: result.perScene[scene] ?? null,
      medianErrQ: median(mineErrors.map((e) => e.errQ)),
      medianErrT: median(mineErrors.map((e) => e.errT)),
      noF: mine.filter((r) => !r.F).length,
      medianMatches: median(mine.map((r) => r.matches)),
      medianMs: median(mine.map((r) => r.ms.match + r.ms.refine + r.ms.ransac)),
    };
  });
  return {
    scenes,
    mean: Object.keys(result.perScene).length ? result.mean : null,
    listed: dataset.pairs.length + dataset.bad.length,
    scored: scored.length,
    notScored,
  };
}

/** The records as CSV, one row per pair, errors in degrees and metres (empty: no F). */
export function recordsCsv(records: PairRecord[]): string {
  const head = "pair_id,scene,matches,used,inliers,err_q_deg,err_t_m,accuracy," +
    "match_ms,refine_ms,ransac_ms,stop,error";
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const rows = records.map((r) =>
    [
      quote(r.id),
      quote(r.scene),
      r.matches,
      r.used,
      r.inliers,
      r.errQ ?? "",
      r.errT ?? "",
      r.accuracy,
      r.ms.match.toFixed(1),
      r.ms.refine.toFixed(1),
      r.ms.ransac.toFixed(1),
      r.stop,
      quote(r.error ?? r.message ?? ""),
    ].join(",")
  );
  return [head, ...rows].join("\n") + "\n";
}
