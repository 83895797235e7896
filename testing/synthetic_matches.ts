/**
 * Synthetic match sets with known geometry for the RANSAC bench and tests,
 * and the candidates the estimators would keep on them. Platform-neutral
 * (the kernel cases, tests/kernels/cases.ts, run in a browser too).
 * @module
 */
import { axisAngleRotation, mul3, normalizeSign, transpose3 } from "../src/geometry/linalg.ts";
import type { PreparedMatches } from "../src/geometry/matches.ts";
import { type Candidate, hypothesisModels, keepBest } from "../src/geometry/ransac.ts";
import type { ResolvedOptions } from "../src/geometry/ransac_options.ts";
import { fundamentalKind } from "../src/geometry/fundamental_solvers.ts";
import { pcgHash } from "../src/geometry/sampling.ts";
import { sampsonError, scoreModel } from "../src/geometry/scores.ts";
import { seededRandom } from "./random.ts";

/** A synthetic two-view match set with known geometry. */
export interface SyntheticMatches {
  /** Matches in image 0 / image 1, `[x, y, …]` pixels, outliers spread evenly among them. */
  points0: Float64Array;
  points1: Float64Array;
  /** 1 for true matches (noisy projections of one 3-D point), 0 for outliers. */
  inlier: Uint8Array;
  /** Noise-free projections of the inliers (0 for outliers), for error measures. */
  clean0: Float64Array;
  clean1: Float64Array;
  /** True F (`x1ᵀ F x0 = 0`), unit norm. */
  F: Float64Array;
  /** Shared intrinsics, rotation and translation (`X1 = R X0 + t`). */
  K: Float64Array;
  R: Float64Array;
  t: [number, number, number];
}

/**
 * N matches between two 1000×800 views (f = 800 px) of random points 4–12
 * units in front of camera 0; camera 1 rotated 15° about a tilted axis and
 * translated by (1, 0.1, 0.2). A fraction `outliers` of the matches are
 * uniform random pairs of pixels; the others get Gaussian noise of `sigma` px.
 * Deterministic in `seed` (numbers from the estimators' PCG hash).
 */
export function syntheticMatches(
  n: number,
  outliers: number,
  sigma: number,
  seed = 1,
): SyntheticMatches {
  let counter = 0;
  const uniform = () => (pcgHash((pcgHash(seed) + counter++) >>> 0) + 0.5) / 2 ** 32;
  const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const K = Float64Array.of(800, 0, 500, 0, 800, 400, 0, 0, 1);
  const R = axisAngleRotation(15, [0.3, 1, 0.2]);
  const t: [number, number, number] = [1, 0.1, 0.2];
  const project = (
    X: number[],
  ): [number, number] => [800 * X[0] / X[2] + 500, 800 * X[1] / X[2] + 400];
  const inside = ([x, y]: [number, number]) => x >= 0 && x < 1000 && y >= 0 && y < 800;
  const points0 = new Float64Array(2 * n), points1 = new Float64Array(2 * n);
  const clean0 = new Float64Array(2 * n), clean1 = new Float64Array(2 * n);
  const inlier = new Uint8Array(n);
  const nOut = Math.round(outliers * n);
  for (let i = 0; i < n; i++) {
    if (Math.floor(((i + 1) * nOut) / n) > Math.floor((i * nOut) / n)) { // nOut spread evenly
      points0.set([1000 * uniform(), 800 * uniform()], 2 * i);
      points1.set([1000 * uniform(), 800 * uniform()], 2 * i);
      continue;
    }
    for (;;) {
      const z = 4 + 8 * uniform();
      const X = [((1000 * uniform() - 500) * z) / 800, ((800 * uniform() - 400) * z) / 800, z];
      const X1 = [0, 1, 2].map((r) =>
        R[3 * r] * X[0] + R[3 * r + 1] * X[1] + R[3 * r + 2] * X[2] + t[r]
      );
      const q0 = project(X), q1 = project(X1);
      if (X1[2] <= 0 || !inside(q1)) continue;
      clean0.set(q0, 2 * i);
      clean1.set(q1, 2 * i);
      points0.set([q0[0] + sigma * gauss(), q0[1] + sigma * gauss()], 2 * i);
      points1.set([q1[0] + sigma * gauss(), q1[1] + sigma * gauss()], 2 * i);
      inlier[i] = 1;
      break;
    }
  }
  // F = K⁻ᵀ [t]ₓ R K⁻¹.
  const Ki = Float64Array.of(1 / 800, 0, -500 / 800, 0, 1 / 800, -400 / 800, 0, 0, 1);
  const tx = Float64Array.of(0, -t[2], t[1], t[2], 0, -t[0], -t[1], t[0], 0);
  const F = normalizeSign(mul3(transpose3(Ki), mul3(mul3(tx, R), Ki)));
  return { points0, points1, inlier, clean0, clean1, F, K, R, t };
}

/** How well an estimate fits a synthetic set: RMS Sampson distance and inlier-mask counts. */
export interface SyntheticQuality {
  /** RMS Sampson distance (px) of the noise-free projections of the true inliers to F. */
  rms: number;
  /** True inliers, and those the mask marks. */
  inliers: number;
  truePositives: number;
  /** Outliers, and those the mask marks as inliers. */
  outliers: number;
  falsePositives: number;
}

/** Measures F and an inlier mask against the truth of a synthetic set. */
export function syntheticQuality(
  F: ArrayLike<number>,
  mask: ArrayLike<number>,
  s: SyntheticMatches,
): SyntheticQuality {
  const e = sampsonError(F, s.clean0, s.clean1);
  const q = { rms: 0, inliers: 0, truePositives: 0, outliers: 0, falsePositives: 0 };
  s.inlier.forEach((t, i) => {
    if (t) {
      q.rms += e[i];
      q.inliers++;
      if (mask[i]) q.truePositives++;
    } else {
      q.outliers++;
      if (mask[i]) q.falsePositives++;
    }
  });
  q.rms = Math.sqrt(q.rms / q.inliers);
  return q;
}

/**
 * Candidates for the local optimisation, as the estimators keep them: the best
 * models (scored in float64) of the first `hypotheses` hypotheses of `o.seed`.
 */
export function firstCandidates(
  p: PreparedMatches,
  o: ResolvedOptions,
  hypotheses: number,
): Candidate[] {
  const kind = fundamentalKind(o.solver);
  const idx = new Uint32Array(kind.sampleSize);
  let pool: Candidate[] = [];
  for (let h = 0; h < hypotheses; h++) {
    const models = hypothesisModels(kind, p, o, h, idx);
    pool = keepBest(pool, models.map((M) => ({ M, ...scoreModel(M, p, o), h })));
  }
  return pool;
}

/**
 * A plane seen by two cameras of a 1000×800 image: a rotation of a few
 * degrees, some perspective, a shift (x1 ~ H x0).
 */
// deno-fmt-ignore
export const H_TRUE = Float64Array.of(
  0.96, -0.08, 40,
  0.05, 1.02, -25,
  4e-5, -3e-5, 1,
);

/** Where H sends the point (x, y). */
export function applyHomography(H: ArrayLike<number>, x: number, y: number): [number, number] {
  const w = H[6] * x + H[7] * y + H[8];
  return [(H[0] * x + H[1] * y + H[2]) / w, (H[3] * x + H[4] * y + H[5]) / w];
}

/**
 * `n` matches of a plane, image 0 to image 1 by {@link H_TRUE}, with Gaussian
 * noise `sigma` px; the first `outliers · n` replaced by random pairs.
 * Deterministic in `seed`.
 */
export function planeMatches(n: number, outliers: number, sigma: number, seed: number) {
  const rand = seededRandom(seed);
  const gauss = () =>
    Math.sqrt(-2 * Math.log((rand() + 1) / 2 + 1e-12)) * Math.cos(Math.PI * rand());
  const p0 = new Float64Array(2 * n), p1 = new Float64Array(2 * n), inlier = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const x = 500 + 500 * rand(), y = 400 + 400 * rand();
    p0.set([x, y], 2 * i);
    if (i < Math.round(outliers * n)) {
      p1.set([500 + 500 * rand(), 400 + 400 * rand()], 2 * i);
    } else {
      const [u, v] = applyHomography(H_TRUE, x, y);
      p1.set([u + sigma * gauss(), v + sigma * gauss()], 2 * i);
      inlier[i] = 1;
    }
  }
  return { p0, p1, inlier };
}
