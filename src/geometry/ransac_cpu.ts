/**
 * Robust fundamental-matrix estimation in float64 on the CPU: the reference of
 * the GPU estimator (`ransac_gpu.ts`), usable where no WebGPU adapter exists.
 * @module
 */
import { screenCandidates } from "./local_optimization.ts";
import { prepareMatches } from "./matches.ts";
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
  type Points,
  type RansacOptions,
  resolveOptions,
  sampleSize,
} from "./ransac_options.ts";
import { scoreModel } from "./scores.ts";

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
  const o = resolveOptions(options);
  const p = prepareMatches(points0, points1);
  if (!("data" in p)) return p;
  const idx = new Uint32Array(sampleSize(o.solver));
  let pool: Candidate[] = [];
  const schedule = batches(p.n, o);
  let step = schedule.next();
  while (!step.done) {
    const winners: Candidate[] = [];
    for (const [first, count] of segments(...step.value)) {
      let win: Candidate | null = null;
      for (let h = first; h < first + count; h++) {
        for (const F of hypothesisModels(p, o, h, idx)) {
          const s = scoreModel(F, p, o);
          if (!win || s.score > win.score) win = { F, ...s, h };
        }
      }
      if (win) winners.push(win);
    }
    pool = keepBest(pool, winners);
    step = schedule.next(pool[0]?.inliers ?? 0);
  }
  return finishEstimate(screenCandidates(recoverCandidates(pool, p, o), p, o), p, o, step.value);
}
