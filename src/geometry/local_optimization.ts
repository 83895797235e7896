/**
 * Local optimisation of a model: iteratively reweighted least squares, each
 * match weighted by its MAGSAC++ (or MSAC) weight over the scale of its
 * algebraic residual (the 8-point fit for F, the DLT for H), and the float64
 * screening of the candidates ({@link screenCandidates}; the GPU estimator of
 * F runs the same steps in f32, `screen` of kernels/ransac.wgsl).
 * @module
 */
import type { PreparedMatches } from "./matches.ts";
import type { ModelKind } from "./model_kind.ts";
import type { ResolvedOptions } from "./ransac_options.ts";

/** Relative score gain under which the local optimisation has converged. */
export const LO_CONVERGED = 1e-6;

/** A model (normalised coordinates) and its score. */
export interface ScoredModel {
  /** The model, row-major. */
  M: Float64Array;
  /** Its score. */
  score: number;
}

/**
 * Local optimisation of a winning model `M0` of `kind` (normalised
 * coordinates): iteratively reweighted least squares, the weights of each
 * step from the pass that scored the previous one (`kind.evaluate`), the step
 * the kind's weighted fit. A step is kept when it improves the score; the
 * iteration stops at the first that does not, or that improves it by less
 * than {@link LO_CONVERGED} (relative). Returns the last kept model and its
 * score.
 */
export function localOptimization(
  kind: ModelKind,
  M0: ArrayLike<number>,
  p: PreparedMatches,
  o: ResolvedOptions,
  iterations: number,
): ScoredModel {
  const w = new Float64Array(p.n);
  let best: Float64Array = Float64Array.from(M0);
  let bestScore = kind.evaluate(best, p, o, iterations > 0 ? w : null).score;
  for (let it = 0; it < iterations; it++) {
    const M = kind.fit(p, w);
    if (!M) break;
    const s = kind.evaluate(M, p, o, it + 1 < iterations ? w : null).score;
    if (!(s > bestScore)) break;
    const converged = s - bestScore <= LO_CONVERGED * Math.abs(bestScore);
    best = M;
    bestScore = s;
    if (converged) break;
  }
  return { M: best, score: bestScore };
}

/** Local-optimisation iterations that screen the candidates; the best one then gets `loIterations`. */
export const SCREENING_LO_ITERATIONS = 10;

/**
 * The screening of the candidates: {@link SCREENING_LO_ITERATIONS} steps of
 * local optimisation of each model in float64 (the GPU estimator of F can run
 * the same steps in f32, `screen` in kernels/ransac.wgsl).
 */
export function screenCandidates(
  kind: ModelKind,
  models: Float64Array[],
  p: PreparedMatches,
  o: ResolvedOptions,
): ScoredModel[] {
  return models.map((M) => localOptimization(kind, M, p, o, SCREENING_LO_ITERATIONS));
}
