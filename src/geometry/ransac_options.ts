/**
 * The options, results and stop reasons of robust two-view estimation (the
 * fundamental matrix, the homography), shared by the float64 estimators
 * (`ransac_cpu.ts`) and the GPU ones (`ransac_gpu.ts`).
 *
 * Conventions: points are flat `[x, y, x, y, …]` pixel arrays; F is row-major
 * with `x1ᵀ F x0 = 0` for x0 in image 0 (`points0`) and x1 in image 1; H is
 * row-major with `x1 ~ H x0`.
 * @module
 */

/** Flat pixel coordinates `[x₀, y₀, x₁, y₁, …]` of N points (length 2N). */
export type Points = ArrayLike<number>;

/** Minimal solver of the RANSAC hypotheses. */
export type FundamentalSolver = "7pt" | "8pt";

/** Scoring of a hypothesis: MAGSAC++ marginalised loss or MSAC truncated quadratic loss. */
export type ScoreMethod = "magsac" | "msac";

/**
 * Options of the robust estimators (`estimateFundamental`,
 * `estimateHomography` and their float64 twins).
 */
export interface RansacOptions {
  /**
   * Inlier threshold on the model's error in pixels (default 0.5): the
   * Sampson distance for F, the symmetric transfer error for H. Sets the
   * inlier mask and the adaptive stopping; for `msac` also the loss.
   */
  threshold?: number;
  /** Probability of having drawn one all-inlier sample before stopping (default 0.99999). */
  confidence?: number;
  /** Maximum number of minimal samples (hypotheses) drawn (default 10000). */
  maxIterations?: number;
  /** Seed of the sample generator (default 0). Same seed and input give the same result. */
  seed?: number;
  /** Minimal solver of F (default `7pt`: up to 3 models per 7-match sample); unused for H. */
  solver?: FundamentalSolver;
  /** Hypothesis scoring (default `magsac`). */
  score?: ScoreMethod;
  /**
   * Largest noise level MAGSAC++ marginalises over, as an error in pixels
   * (default 3 · threshold); matches beyond it are outliers for
   * the score and the local optimisation. Unused by `msac`.
   */
  maxThreshold?: number;
  /** Hypotheses per batch between two adaptive-stopping checks (default 2048). */
  batchSize?: number;
  /** Most iterations of the local optimisation of the winner (default 50; 0 turns it off). */
  loIterations?: number;
}

/** Options of the homography estimators: those of {@link RansacOptions} but the F solver. */
export type HomographyOptions = Omit<RansacOptions, "solver">;

/** Why an estimation stopped. The first two come with a model, the others without. */
export type StopReason =
  | "confidence"
  | "max-iterations"
  | "too-few-matches"
  | "non-finite-coordinates"
  | "degenerate-points"
  | "no-valid-model";

/** Result of a robust fundamental-matrix estimation. */
export interface FundamentalResult {
  /** F, row-major, unit Frobenius norm, rank 2, `x1ᵀ F x0 = 0`; `null` when none was found. */
  F: Float64Array | null;
  /** 1 for the matches whose Sampson distance to F is below the threshold. */
  inliers: Uint8Array;
  /** Number of ones in `inliers`. */
  inlierCount: number;
  /** Number of minimal samples drawn. */
  hypotheses: number;
  /** Why it stopped; when F is `null`, why there is none. */
  stop: StopReason;
  /** A sentence for the user when F is `null`. */
  message?: string;
}

/** Result of a robust homography estimation. */
export interface HomographyResult {
  /** H, row-major, unit Frobenius norm, `x1 ~ H x0`; `null` when none was found. */
  H: Float64Array | null;
  /** 1 for the matches whose symmetric transfer error is below the threshold. */
  inliers: Uint8Array;
  /** Number of ones in `inliers`. */
  inlierCount: number;
  /** Number of minimal samples drawn. */
  hypotheses: number;
  /** Why it stopped; when H is `null`, why there is none. */
  stop: StopReason;
  /** A sentence for the user when H is `null`. */
  message?: string;
}

/** The result of the shared loop, for any {@link ModelKind}: `model` is F or H. */
export interface RobustResult {
  /** The model in pixels, or `null`. */
  model: Float64Array | null;
  /** 1 for the matches whose error is below the threshold. */
  inliers: Uint8Array;
  /** Number of ones in `inliers`. */
  inlierCount: number;
  /** Number of minimal samples drawn. */
  hypotheses: number;
  /** Why it stopped. */
  stop: StopReason;
  /** A sentence for the user when there is no model. */
  message?: string;
}

/** Options with every default applied. */
export type ResolvedOptions = Required<RansacOptions>;

/** Fills in the documented defaults and checks the ranges; throws a RangeError on bad options. */
export function resolveOptions(o: RansacOptions = {}): ResolvedOptions {
  const threshold = o.threshold ?? 0.5;
  const r: ResolvedOptions = {
    threshold,
    confidence: o.confidence ?? 0.99999,
    maxIterations: o.maxIterations ?? 10000,
    seed: o.seed ?? 0,
    solver: o.solver ?? "7pt",
    score: o.score ?? "magsac",
    maxThreshold: Math.max(o.maxThreshold ?? 3 * threshold, threshold),
    batchSize: o.batchSize ?? 2048,
    loIterations: o.loIterations ?? 50,
  };
  const bad = (what: string) => {
    throw new RangeError(`robust estimation options: ${what}`);
  };
  if (!(r.threshold > 0 && Number.isFinite(r.threshold))) bad("threshold must be > 0");
  if (!(r.confidence > 0 && r.confidence <= 1)) bad("confidence must be in (0, 1]");
  if (!(Number.isInteger(r.maxIterations) && r.maxIterations >= 1)) {
    bad("maxIterations must be an integer ≥ 1");
  }
  if (!Number.isInteger(r.seed)) bad("seed must be an integer");
  if (r.solver !== "7pt" && r.solver !== "8pt") bad(`unknown solver ${r.solver}`);
  if (r.score !== "magsac" && r.score !== "msac") bad(`unknown score ${r.score}`);
  if (!(Number.isInteger(r.batchSize) && r.batchSize >= 1)) bad("batchSize must be ≥ 1");
  if (!(Number.isInteger(r.loIterations) && r.loIterations >= 0)) bad("loIterations must be ≥ 0");
  return r;
}
