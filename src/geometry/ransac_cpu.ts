/**
 * Robust estimation in float64 on the CPU, for any model kind: the
 * references of the GPU estimators (`ransac_gpu.ts`), usable where no WebGPU
 * adapter exists.
 * @module
 */
import { fundamentalKind } from "./fundamental_solvers.ts";
import { HOMOGRAPHY } from "./homography_solvers.ts";
import { screenCandidates } from "./local_optimization.ts";
import { prepareMatches } from "./matches.ts";
import type { ModelKind } from "./model_kind.ts";
import {
  batches,
  type Candidate,
  finishEstimate,
  hypothesisModels,
  keepBest,
  recoverCandidates,
  segments,
} from "./ransac.ts";
import {
  type FundamentalResult,
  type HomographyOptions,
  type HomographyResult,
  type Points,
  type RansacOptions,
  resolveOptions,
  type RobustResult,
} from "./ransac_options.ts";

/** The float64 robust loop of `kind` on the matches. */
function robustCpu(
  kind: ModelKind,
  points0: Points,
  points1: Points,
  options: RansacOptions,
): RobustResult {
  const o = resolveOptions(options);
  const p = prepareMatches(points0, points1, kind.minimumMatches);
  if (!("data" in p)) return p;
  const idx = new Uint32Array(kind.sampleSize);
  let pool: Candidate[] = [];
  const schedule = batches(p.n, kind.sampleSize, o);
  let step = schedule.next();
  while (!step.done) {
    const winners: Candidate[] = [];
    for (const [first, count] of segments(...step.value)) {
      let win: Candidate | null = null;
      for (let h = first; h < first + count; h++) {
        for (const M of hypothesisModels(kind, p, o, h, idx)) {
          const s = kind.evaluate(M, p, o, null);
          if (!win || s.score > win.score) win = { M, ...s, h };
        }
      }
      if (win) winners.push(win);
    }
    pool = keepBest(pool, winners);
    step = schedule.next(pool[0]?.inliers ?? 0);
  }
  const screened = screenCandidates(kind, recoverCandidates(kind, pool, p, o), p, o);
  return finishEstimate(kind, screened, p, o, step.value);
}

/**
 * Robust fundamental-matrix estimation in float64 on the CPU: the reference of
 * the GPU estimator `estimateFundamental` (same samples for the same seed, same
 * scoring, schedule, local optimisation), usable where no WebGPU adapter exists.
 * Its cost is O(hypotheses × matches) in JavaScript: fine for a few thousand
 * hypotheses, slow for 10⁵.
 *
 * @param points0 matches in image 0, `[x, y, …]` pixels
 * @param points1 the same matches in image 1
 * @param options see {@link RansacOptions} for the defaults
 */
export function estimateFundamentalCpu(
  points0: Points,
  points1: Points,
  options: RansacOptions = {},
): FundamentalResult {
  const { model, ...rest } = robustCpu(
    fundamentalKind(options.solver ?? "7pt"),
    points0,
    points1,
    options,
  );
  return { F: model, ...rest };
}

/**
 * Robust homography estimation in float64 on the CPU: the reference of the
 * GPU estimator `estimateHomography` (same samples for the same seed, same
 * scoring, schedule, local optimisation).
 *
 * @param points0 matches in image 0, `[x, y, …]` pixels
 * @param points1 the same matches in image 1
 * @param options see {@link RansacOptions} for the defaults (the threshold
 *   is on the symmetric transfer error)
 */
export function estimateHomographyCpu(
  points0: Points,
  points1: Points,
  options: HomographyOptions = {},
): HomographyResult {
  const { model, ...rest } = robustCpu(HOMOGRAPHY, points0, points1, options);
  return { H: model, ...rest };
}
