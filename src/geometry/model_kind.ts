/**
 * What one kind of two-view model brings to the robust loop that every
 * estimator shares (`ransac.ts`): F from 7 or 8 points
 * (`fundamental_solvers.ts`), H from 4 (`homography_solvers.ts`).
 * @module
 */
import type { Mat3 } from "./linalg.ts";
import type { Normalization, PreparedMatches } from "./matches.ts";
import type { ResolvedOptions } from "./ransac_options.ts";
import type { Score } from "./scores.ts";

/**
 * What one kind of model (F from 7 or 8 points, H from 4) brings to the
 * robust loop (`ransac.ts`): its minimal solver with the sample checks, one
 * scoring pass (with the local optimisation's weights), the weighted
 * least-squares fit of a local-optimisation step, its error, and the way
 * back to pixels. Models are 3×3 row-major, of normalised coordinates.
 */
export interface ModelKind {
  /** Name in messages: `fundamental matrix` or `homography`. */
  name: string;
  /** Matches in a minimal sample. */
  sampleSize: number;
  /** The fewest (distinct) matches an estimation accepts. */
  minimumMatches: number;
  /** The models of the minimal sample `idx` that pass the kind's sample checks. */
  solve(p: PreparedMatches, idx: ArrayLike<number>): Float64Array[];
  /**
   * One pass of `M` over all matches: its {@link Score} and, into `weights`
   * when given, each match's weight for the next least-squares step.
   */
  evaluate(
    M: ArrayLike<number>,
    p: PreparedMatches,
    o: ResolvedOptions,
    weights: Float64Array | null,
  ): Score;
  /** The weighted least-squares model of the matches with positive weight, or `null`. */
  fit(p: PreparedMatches, weights: ArrayLike<number>): Float64Array | null;
  /** Squared error of match `i` under `M`, pixels². */
  error(M: ArrayLike<number>, p: PreparedMatches, i: number): number;
  /**
   * Recovery of a candidate from a degenerate sample `sample` (DEGENSAC's
   * plane-and-parallax for F); absent where the kind has none.
   */
  recover?(
    M: Float64Array,
    sample: ArrayLike<number>,
    p: PreparedMatches,
    o: ResolvedOptions,
  ): Float64Array;
  /** The final model's projection onto the kind's constraints (rank 2 for F). */
  finish(M: ArrayLike<number>): Float64Array;
  /** The model in pixels, unit norm, sign fixed. */
  denormalize(M: ArrayLike<number>, norm0: Normalization, norm1: Normalization): Mat3;
}
