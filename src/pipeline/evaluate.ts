/**
 * The IMC2022 evaluation loop: match the pairs (LoFTR, each image's backbone
 * once), then per pair optionally refine the coarse matches
 * ({@link refineMatches}), estimate F (GPU RANSAC), score it against the
 * ground truth ({@link poseErrors}); results appended to a JSON Lines file as
 * each pair finishes, so that a rerun with the same file skips what is done.
 * The same pipeline ({@link estimatePairs}) writes submissions.
 * @module
 */
import type { BadRow, Dataset, EvalPair } from "../io/dataset.ts";
import type { GrayImage, ImageError, ResizePolicy } from "../io/image.ts";
import type { Precision } from "../gpu/mod.ts";
import { InputImageError, type Matcher, type MatchResult } from "./matcher.ts";
import { maa, pairAccuracy, poseErrors } from "../geometry/metric.ts";
import { estimateFundamental } from "../geometry/ransac_gpu.ts";
import { refineMatches } from "./ncc_refinement.ts";

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
  /** Sub-pixel refinement of coarse matches: `ncc` ({@link refineMatches}) or `none`. */
  refine: "ncc" | "none";
  /** RANSAC ({@link estimateFundamental}) parameters; see {@link ransacThreshold} for `auto`. */
  ransac: { threshold: number | "auto"; confidence: number; maxIterations: number; seed: number };
}

/** What the pipeline found for one pair. */
export interface PairEstimate {
  /** F (`x2ᵀ F x1 = 0`, unit norm) or `null` when RANSAC found none. */
  F: Float64Array | null;
  /** Matches from the matcher. */
  matches: number;
  /** Matches given to RANSAC (after refinement, which drops unmatched patches). */
  keypoints0: ArrayLike<number>;
  /** Their partners in image 2. */
  keypoints1: ArrayLike<number>;
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
 * decoded images it was computed from) and estimates F: the pipeline after
 * matching, for every caller that scores or submits pairs. `ms.match` is the
 * sum of `match.timings`. Throws when `refine` is `ncc` and the model has a
 * fine stage (its keypoints are already refined).
 */
export async function estimateFromMatches(
  matcher: Matcher,
  match: MatchResult,
  images: readonly [GrayImage, GrayImage],
  config: PipelineConfig,
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
  if (config.refine === "ncc") {
    const r = refineMatches(images[0], images[1], k0, k1, cells);
    [k0, k1] = [r.keypoints0, r.keypoints1];
  }
  const refine = lap();
  const subPixel = config.refine === "ncc" || fine !== null;
  const threshold = ransacThreshold(config.ransac.threshold, subPixel, cells);
  const f = await estimateFundamental(matcher.gpu, k0, k1, {
    threshold,
    confidence: config.ransac.confidence,
    maxIterations: config.ransac.maxIterations,
    seed: config.ransac.seed,
  });
  return {
    F: f.F,
    matches: match.count,
    keypoints0: k0,
    keypoints1: k1,
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
  /** Path of image 1 (the image of x1 in `x2ᵀ F x1 = 0`). */
  image1: string;
  /** Path of image 2. */
  image2: string;
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
  const paths = [...new Set(pairs.flatMap((p) => [p.image1, p.image2]))];
  const index = new Map(paths.map((path, i) => [path, i]));
  const ids = pairs.map((p): [number, number] => [index.get(p.image1)!, index.get(p.image2)!]);
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

/** Marks the first line of a results file; its value is the format version. */
const HEADER_KEY = "deno-loftr-eval";

/** A results file opened by {@link ResultsFile.open}: its finished pairs, and appending. */
export class ResultsFile {
  /** Its path. */
  readonly path: string;
  /** Finished pairs by id (the last record of each id). */
  readonly done: Map<string, PairRecord>;

  private constructor(path: string, done: Map<string, PairRecord>) {
    this.path = path;
    this.done = done;
  }

  /**
   * Opens (or creates) a JSON Lines results file whose first line records
   * `config`. An existing file must record the same configuration (else an
   * Error says which settings differ); a last line cut short by a crash is
   * removed.
   */
  static async open(path: string, config: Record<string, unknown>): Promise<ResultsFile> {
    const header = JSON.stringify({ [HEADER_KEY]: 1, config });
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      text = "";
    }
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    if (!complete) {
      await Deno.writeTextFile(path, header + "\n");
      return new ResultsFile(path, new Map());
    }
    if (complete.length < text.length) {
      await Deno.truncate(path, new TextEncoder().encode(complete).length);
    }
    const lines = complete.trimEnd().split("\n");
    let theirs: Record<string, unknown> | undefined;
    try {
      const first = JSON.parse(lines[0]);
      if (first[HEADER_KEY] === 1) theirs = first.config;
    } catch { /* not JSON: reported below */ }
    if (!theirs) {
      throw new Error(`${path}: not a results file of deno task eval; use another --out`);
    }
    const differ = differences(theirs, config);
    if (differ.length) {
      throw new Error(
        `${path} holds results of another configuration (${differ.join("; ")}); ` +
          `use another --out, or delete the file to start over`,
      );
    }
    const done = new Map<string, PairRecord>();
    lines.slice(1).forEach((line, i) => {
      let r: PairRecord;
      try {
        r = JSON.parse(line);
      } catch {
        throw new Error(`${path}:${i + 2}: not a JSON line`);
      }
      if (r.error) done.delete(r.id);
      else done.set(r.id, r);
    });
    return new ResultsFile(path, done);
  }

  /** Appends one record (a single write of a whole line). */
  async append(record: PairRecord): Promise<void> {
    await Deno.writeTextFile(this.path, JSON.stringify(record) + "\n", { append: true });
    if (!record.error) this.done.set(record.id, record);
  }
}

/** Settings that differ between two configurations, `key: theirs there, ours here`. */
function differences(theirs: Record<string, unknown>, ours: Record<string, unknown>): string[] {
  const flat = (o: Record<string, unknown>, prefix = ""): [string, string][] =>
    Object.entries(o).flatMap(([k, v]) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? flat(v as Record<string, unknown>, `${prefix}${k}.`)
        : [[`${prefix}${k}`, JSON.stringify(v)] as [string, string]]
    );
  const a = new Map(flat(theirs)), b = new Map(flat(ours));
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).map((k) =>
    `${k}: ${a.get(k) ?? "unset"} there, ${b.get(k) ?? "unset"} here`
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
  results: ResultsFile,
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
      where: pairs.get(r.id)?.image1 ?? r.id,
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

/** Where {@link Progress} writes. */
export interface ProgressSink {
  /** A terminal: one line redrawn in place. Otherwise a line at every tenth of the work. */
  tty: boolean;
  /** Writes text as is (terminal). */
  write(text: string): void;
  /** Writes a line. */
  log(line: string): void;
}

/** A progress bar with rate and time left (on a terminal), or occasional lines. */
export class Progress {
  #total: number;
  #done = 0;
  #start = performance.now();
  #sink: ProgressSink;

  /** `total`: the items this run will process. */
  constructor(total: number, sink: ProgressSink) {
    this.#total = total;
    this.#sink = sink;
  }

  /** On a terminal, erases the bar before a message is printed (the next tick redraws it). */
  clear(): void {
    if (this.#sink.tty) this.#sink.write("\r\x1b[K");
  }

  /** One more item finished; `label` names it (shown on a terminal). */
  tick(label: string): void {
    const done = ++this.#done, total = this.#total;
    const seconds = (performance.now() - this.#start) / 1000;
    const rate = done / seconds;
    const left = clock((total - done) / rate);
    const status = `${done}/${total} (${Math.floor((100 * done) / total)}%), ` +
      `${rate >= 1 ? `${rate.toFixed(1)} pairs/s` : `${(1 / rate).toFixed(1)} s/pair`}, ` +
      `${left} left`;
    if (this.#sink.tty) {
      const width = 24, fill = Math.round((width * done) / total);
      const bar = "█".repeat(fill) + "░".repeat(width - fill);
      this.#sink.write(`\r\x1b[K${bar} ${status}  ${label}`.slice(0, 160));
      if (done === total) this.#sink.write("\r\x1b[K");
    } else if (
      done === total || Math.floor((10 * done) / total) > Math.floor((10 * (done - 1)) / total)
    ) {
      this.#sink.log(status);
    }
  }
}

/** `m:ss` (or `h:mm:ss`). */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const mm = String(Math.floor(s / 60) % 60), ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}
