/**
 * The RANSAC loop both estimators follow: the batch schedule with adaptive
 * stopping, one candidate per segment of each batch, the pool of the best
 * candidates, their plane recovery and screening, and the finish (local
 * optimisation of the best, rank 2, inlier mask). `ransac_cpu.ts` runs it in
 * float64 on the CPU, `ransac_gpu.ts` with the hypotheses on the GPU.
 * @module
 */
import { recoverFromPlane } from "./degensac.ts";
import {
  denormalize,
  eightPointNormalized,
  enforceRank2,
  orientationConsistent,
  sevenPointNormalized,
} from "./fundamental_solvers.ts";
import { refineFundamental, type ScoredModel } from "./local_optimization.ts";
import { failure, type PreparedMatches } from "./matches.ts";
import {
  type FundamentalResult,
  type ResolvedOptions,
  sampleSize,
  type StopReason,
} from "./ransac_options.ts";
import { drawSample } from "./sampling.ts";
import { sampsonAt, type Score } from "./scores.ts";

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
 * The batch schedule both estimators follow: yields `[firstHypothesis, count]`,
 * receives the inlier count of the best model so far, and stops on the
 * confidence bound or at maxIterations. Returns the reason and the number drawn.
 */
export function* batches(
  n: number,
  o: ResolvedOptions,
): Generator<[number, number], { stop: StopReason; hypotheses: number }, number> {
  const m = sampleSize(o.solver);
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
  F: Float64Array;
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
 * The candidates after DEGENSAC's plane recovery ({@link recoverFromPlane}),
 * each with the sample of its hypothesis redrawn: the models both estimators
 * screen by a short local optimisation.
 */
export function recoverCandidates(
  candidates: Candidate[],
  p: PreparedMatches,
  o: ResolvedOptions,
): Float64Array[] {
  const sample = new Uint32Array(sampleSize(o.solver));
  return candidates.map((c) => {
    drawSample(o.seed, c.h, p.n, sample.length, sample);
    return recoverFromPlane(c.F, sample, p, o);
  });
}

/**
 * From the screened candidates to the result: the one with the best score
 * (the first among equals) is optimised further in float64, made rank 2,
 * brought back to pixels and thresholded into the inlier mask. No candidates:
 * the "no-valid-model" failure.
 */
export function finishEstimate(
  screened: ScoredModel[],
  p: PreparedMatches,
  o: ResolvedOptions,
  run: { stop: StopReason; hypotheses: number },
): FundamentalResult {
  if (!screened.length) {
    return { ...failure(p.n, "no-valid-model", "no sample gave a valid model"), ...run };
  }
  let best = screened[0];
  for (const c of screened) if (c.score > best.score) best = c;
  const F = enforceRank2(refineFundamental(best.F, p, o, o.loIterations).F);
  const s0sq = p.norm0.scale ** 2, s1sq = p.norm1.scale ** 2, t2 = o.threshold ** 2;
  const inliers = new Uint8Array(p.n);
  let inlierCount = 0;
  for (let i = 0; i < p.n; i++) {
    if (sampsonAt(F, p.data, i, s0sq, s1sq) < t2) {
      inliers[i] = 1;
      inlierCount++;
    }
  }
  return { F: denormalize(F, p.norm0, p.norm1), inliers, inlierCount, ...run };
}

/** The models of hypothesis h (normalised coordinates), after the sample and orientation checks. */
export function hypothesisModels(
  p: PreparedMatches,
  o: ResolvedOptions,
  h: number,
  idx: Uint32Array,
): Float64Array[] {
  drawSample(o.seed, h, p.n, idx.length, idx);
  const models = o.solver === "7pt" ? sevenPointNormalized(p.data, idx) : (() => {
    const w = new Float64Array(p.n);
    for (const i of idx) w[i] = 1;
    const F = eightPointNormalized(p.data, w);
    return F ? [F] : [];
  })();
  return models.filter((F) => orientationConsistent(F, p.data, idx));
}
