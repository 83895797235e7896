/**
 * The RANSAC loop every estimator follows, for any {@link ModelKind}: the
 * batch schedule with adaptive stopping, one candidate per segment of each
 * batch, the pool of the best candidates, their recovery (DEGENSAC for F)
 * and screening, and the finish (local optimisation of the best, the kind's
 * constraints, inlier mask). `ransac_cpu.ts` runs it in float64 on the CPU,
 * `ransac_gpu.ts` with the hypotheses on the GPU.
 * @module
 */
import { localOptimization, type ScoredModel } from "./local_optimization.ts";
import { failure, type PreparedMatches } from "./matches.ts";
import type { ModelKind } from "./model_kind.ts";
import type { ResolvedOptions, RobustResult, StopReason } from "./ransac_options.ts";
import { drawSample } from "./sampling.ts";
import type { Score } from "./scores.ts";

/**
 * Number of samples needed to draw one all-inlier sample of size m with
 * probability `confidence` at inlier ratio w: log(1 − confidence) / log(1 − wᵐ).
 */
export function requiredIterations(w: number, m: number, confidence: number): number {
  const good = w ** m;
  if (good <= 0) return Infinity;
  if (good >= 1) return 0;
  return Math.log(1 - confidence) / Math.log(1 - good);
}

/**
 * The batch schedule of samples of size `m`: yields `[firstHypothesis,
 * count]`, receives the inlier count of the best model so far, and stops on
 * the confidence bound or at maxIterations. Returns the reason and the number
 * drawn.
 */
export function* batches(
  n: number,
  m: number,
  o: ResolvedOptions,
): Generator<[number, number], { stop: StopReason; hypotheses: number }, number> {
  let tried = 0;
  for (;;) {
    const count = Math.min(o.batchSize, o.maxIterations - tried);
    const inliers = yield [tried, count];
    tried += count;
    if (tried >= requiredIterations(inliers / n, m, o.confidence)) {
      return { stop: "confidence", hypotheses: tried };
    }
    if (tried >= o.maxIterations) return { stop: "max-iterations", hypotheses: tried };
  }
}

/** A hypothesis that won its segment of a batch: its model (normalised coordinates) and index. */
export interface Candidate extends Score {
  /** The model, row-major. */
  M: Float64Array;
  /** The hypothesis index. */
  h: number;
}

/** Segments each batch is split into; each segment's best hypothesis becomes a candidate. */
export const SEGMENTS_PER_BATCH = 8;
/** Candidates kept (highest scores over all batches) for local optimisation. */
export const LO_CANDIDATES = 8;

/** `[first, count]` of the segments of a batch (at most {@link SEGMENTS_PER_BATCH}). */
export function segments(first: number, count: number): [number, number][] {
  const size = Math.ceil(count / SEGMENTS_PER_BATCH);
  const out: [number, number][] = [];
  for (let s = first; s < first + count; s += size) {
    out.push([s, Math.min(size, first + count - s)]);
  }
  return out;
}

/** Adds candidates to a pool, keeping the {@link LO_CANDIDATES} best (score, then lower index). */
export function keepBest(pool: Candidate[], add: Candidate[]): Candidate[] {
  return [...pool, ...add].sort((a, b) => b.score - a.score || a.h - b.h).slice(0, LO_CANDIDATES);
}

/**
 * The candidates after the kind's recovery (DEGENSAC's plane recovery for F),
 * each with the sample of its hypothesis redrawn: the models every estimator
 * screens by a short local optimisation.
 */
export function recoverCandidates(
  kind: ModelKind,
  candidates: Candidate[],
  p: PreparedMatches,
  o: ResolvedOptions,
): Float64Array[] {
  const recover = kind.recover;
  if (!recover) return candidates.map((c) => c.M);
  const sample = new Uint32Array(kind.sampleSize);
  return candidates.map((c) => {
    drawSample(o.seed, c.h, p.n, sample.length, sample);
    return recover(c.M, sample, p, o);
  });
}

/**
 * From the screened candidates to the result: the one with the best score
 * (the first among equals) is optimised further in float64, projected onto
 * the kind's constraints, brought back to pixels and thresholded into the
 * inlier mask. No candidates: the "no-valid-model" failure.
 */
export function finishEstimate(
  kind: ModelKind,
  screened: ScoredModel[],
  p: PreparedMatches,
  o: ResolvedOptions,
  run: { stop: StopReason; hypotheses: number },
): RobustResult {
  if (!screened.length) {
    return { ...failure(p.n, "no-valid-model", "no sample gave a valid model"), ...run };
  }
  let best = screened[0];
  for (const c of screened) if (c.score > best.score) best = c;
  const M = kind.finish(localOptimization(kind, best.M, p, o, o.loIterations).M);
  const t2 = o.threshold ** 2;
  const inliers = new Uint8Array(p.n);
  let inlierCount = 0;
  for (let i = 0; i < p.n; i++) {
    if (kind.error(M, p, i) < t2) {
      inliers[i] = 1;
      inlierCount++;
    }
  }
  return { model: kind.denormalize(M, p.norm0, p.norm1), inliers, inlierCount, ...run };
}

/** The models of hypothesis h (normalised coordinates): its sample, solved and checked by `kind`. */
export function hypothesisModels(
  kind: ModelKind,
  p: PreparedMatches,
  o: ResolvedOptions,
  h: number,
  idx: Uint32Array,
): Float64Array[] {
  drawSample(o.seed, h, p.n, idx.length, idx);
  return kind.solve(p, idx);
}
