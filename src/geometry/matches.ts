/**
 * Matches prepared for estimation: input checks (count, finite coordinates,
 * distinct and non-collinear points) and Hartley normalisation of each image.
 * @module
 */
import type { Mat3 } from "./linalg.ts";
import type { Points, RobustResult, StopReason } from "./ransac_options.ts";

/** Hartley normalisation of one image's points: `x̂ = scale · (x − center)`, mean distance √2. */
export interface Normalization {
  cx: number;
  cy: number;
  scale: number;
  /** The same as a 3×3 matrix `T` with `x̂ = T x`. */
  T: Mat3;
}

/** Hartley normalisation of N points (mean at the origin, mean distance √2). */
export function hartley(points: Points): Normalization {
  const n = points.length / 2;
  let cx = 0, cy = 0;
  for (let i = 0; i < n; i++) {
    cx += points[2 * i];
    cy += points[2 * i + 1];
  }
  cx /= n;
  cy /= n;
  let d = 0;
  for (let i = 0; i < n; i++) d += Math.hypot(points[2 * i] - cx, points[2 * i + 1] - cy);
  const scale = Math.SQRT2 / (d / n);
  return {
    cx,
    cy,
    scale,
    T: Float64Array.of(scale, 0, -scale * cx, 0, scale, -scale * cy, 0, 0, 1),
  };
}

/** Matches ready for estimation: both images Hartley-normalised, interleaved `[x0, y0, x1, y1]`. */
export interface PreparedMatches {
  /** Number of matches. */
  n: number;
  /** Normalised coordinates, 4 per match. */
  data: Float64Array;
  norm0: Normalization;
  norm1: Normalization;
}

/** Hartley-normalises each image's points and interleaves them (no checks). */
export function normalizeMatches(points0: Points, points1: Points): PreparedMatches {
  const norm0 = hartley(points0), norm1 = hartley(points1);
  const n = points0.length / 2, data = new Float64Array(4 * n);
  for (let i = 0; i < n; i++) {
    data[4 * i] = norm0.scale * (points0[2 * i] - norm0.cx);
    data[4 * i + 1] = norm0.scale * (points0[2 * i + 1] - norm0.cy);
    data[4 * i + 2] = norm1.scale * (points1[2 * i] - norm1.cx);
    data[4 * i + 3] = norm1.scale * (points1[2 * i + 1] - norm1.cy);
  }
  return { n, data, norm0, norm1 };
}

/** A result without a model, for inputs or data that admit none. */
export function failure(n: number, stop: StopReason, message: string): RobustResult {
  return { model: null, inliers: new Uint8Array(n), inlierCount: 0, hypotheses: 0, stop, message };
}

/**
 * Checks a pair of point arrays and normalises them. Malformed arguments
 * (not arrays, odd or different lengths) throw a RangeError; inputs that admit
 * no model of `minimum`-match samples (fewer matches, NaN or infinite
 * coordinates, fewer distinct matches, all points of an image on one line)
 * give a failure result.
 */
export function prepareMatches(
  points0: Points,
  points1: Points,
  minimum: number,
): PreparedMatches | RobustResult {
  for (const [name, p] of [["points0", points0], ["points1", points1]] as const) {
    if (p === null || typeof p !== "object" || typeof p.length !== "number") {
      throw new RangeError(`${name} must be an array of coordinates [x, y, x, y, …]`);
    }
    if (p.length % 2 !== 0) throw new RangeError(`${name} has an odd length ${p.length}`);
  }
  if (points0.length !== points1.length) {
    throw new RangeError(
      `points0 and points1 differ in length: ${points0.length / 2} vs ${points1.length / 2} points`,
    );
  }
  const n = points0.length / 2;
  if (n < minimum) {
    return failure(n, "too-few-matches", `${n} matches; at least ${minimum} are needed`);
  }
  for (let i = 0; i < 2 * n; i++) {
    if (!Number.isFinite(points0[i]) || !Number.isFinite(points1[i])) {
      return failure(
        n,
        "non-finite-coordinates",
        `match ${i >> 1} has a NaN or infinite coordinate`,
      );
    }
  }
  const distinct = new Set<string>();
  for (let i = 0; i < n && distinct.size < minimum; i++) {
    distinct.add(`${points0[2 * i]},${points0[2 * i + 1]},${points1[2 * i]},${points1[2 * i + 1]}`);
  }
  if (distinct.size < minimum) {
    return failure(
      n,
      "degenerate-points",
      `only ${distinct.size} distinct matches; ${minimum} are needed`,
    );
  }
  for (const [k, p] of [[0, points0], [1, points1]] as const) {
    if (collinear(p)) {
      return failure(
        n,
        "degenerate-points",
        `all points of image ${k} lie on one line (or coincide)`,
      );
    }
  }
  return normalizeMatches(points0, points1);
}

/** Whether all points lie on one line: the smaller principal variance is ~0 relative to the larger. */
function collinear(p: Points): boolean {
  const n = p.length / 2;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += p[2 * i] / n;
    my += p[2 * i + 1] / n;
  }
  let sxx = 0, syy = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = p[2 * i] - mx, dy = p[2 * i + 1] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  const tr = sxx + syy, det = sxx * syy - sxy * sxy;
  // Smallest/largest eigenvalue of the 2×2 covariance ≈ det/tr²; 1e-12 is far below any real
  // spread (1e-6 of the extent) and far above float64 round-off on exactly collinear input.
  return tr === 0 || det / (tr * tr) < 1e-12;
}
