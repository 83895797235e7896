/**
 * Local optimisation of a model: iteratively reweighted normalised 8-point
 * steps, each match weighted by its MAGSAC++ (or MSAC) weight over the squared
 * gradient of its algebraic residual, and the float64 screening of the
 * candidates ({@link screenCandidates}; the GPU estimator runs the same steps
 * in f32, `screen` of kernels/ransac.wgsl).
 * @module
 */
import { eightPointNormalized } from "./fundamental_solvers.ts";
import type { PreparedMatches } from "./matches.ts";
import type { ResolvedOptions } from "./ransac_options.ts";
import { evaluateModel } from "./scores.ts";

/** Relative score gain under which the local optimisation has converged. */
export const LO_CONVERGED = 1e-6;

/** A model (normalised coordinates) and its score. */
export interface ScoredModel {
  F: Float64Array;
  score: number;
}

/**
 * Local optimisation of a winning F (normalised coordinates): iteratively
 * reweighted 8-point, each match weighted by its MAGSAC++ weight (MSAC: 1 for
 * inliers) divided by the squared gradient of its algebraic residual, so that
 * the weighted algebraic error approximates the Sampson error. A step is
 * kept when it improves the score; the iteration stops at the first that does
 * not, or that improves it by less than {@link LO_CONVERGED} (relative).
 * Returns the last kept F and its score. The pass that scores a step also
 * computes the weights of the next one.
 */
export function refineFundamental(
  F0: ArrayLike<number>,
  p: PreparedMatches,
  o: ResolvedOptions,
  iterations: number,
): ScoredModel {
  const w = new Float64Array(p.n);
  let best: Float64Array = Float64Array.from(F0);
  let bestScore = evaluateModel(best, p, o, iterations > 0 ? w : null).score;
  for (let it = 0; it < iterations; it++) {
    const F = eightPointNormalized(p.data, w);
    if (!F) break;
    const s = evaluateModel(F, p, o, it + 1 < iterations ? w : null).score;
    if (!(s > bestScore)) break;
    const converged = s - bestScore <= LO_CONVERGED * Math.abs(bestScore);
    best = F;
    bestScore = s;
    if (converged) break;
  }
  return { F: best, score: bestScore };
}

/** Local-optimisation iterations that screen the candidates; the best one then gets `loIterations`. */
export const SCREENING_LO_ITERATIONS = 10;

/**
 * The screening of {@link estimateFundamentalCpu}: {@link SCREENING_LO_ITERATIONS}
 * steps of local optimisation of each model in float64 (the GPU estimator runs
 * the same steps in f32, `screen` in kernels/ransac.wgsl).
 */
export function screenCandidates(
  models: Float64Array[],
  p: PreparedMatches,
  o: ResolvedOptions,
): ScoredModel[] {
  return models.map((F) => refineFundamental(F, p, o, SCREENING_LO_ITERATIONS));
}
