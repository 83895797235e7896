/**
 * A synthetic multi-view scene for the SfM tests: points in front of a row
 * of cameras that look at the scene's centre, their exact projections, and
 * the ground-truth poses. Positions are in this engine's pixel convention
 * (top-left pixel centre at (0, 0)); the intrinsics in COLMAP's (0.5 more).
 */
import { seededRandom } from "./util.ts";
import type { CameraPose } from "../../src/geometry/sfm_metric.ts";

/** The scene. */
export interface SyntheticScene {
  /** Image width and height. */
  width: number;
  height: number;
  /** fx, fy, cx, cy in COLMAP's convention (PINHOLE). */
  colmapParams: [number, number, number, number];
  /** World points. */
  points: [number, number, number][];
  /** Per camera: world-to-camera pose. */
  poses: CameraPose[];
  /** Per camera: the name of its photo. */
  names: string[];
  /** Per camera: engine-convention projections [x, y, …] of every point (NaN when not seen). */
  projections: Float64Array[];
}

function lookAt(centre: number[], target: number[]): CameraPose {
  const z = target.map((v, i) => v - centre[i]);
  const nz = Math.hypot(...z);
  const zz = z.map((v) => v / nz);
  // x = up × z with "down" = +y in camera: choose world up (0, -1, 0)
  const up = [0, -1, 0];
  let x = [
    up[1] * zz[2] - up[2] * zz[1],
    up[2] * zz[0] - up[0] * zz[2],
    up[0] * zz[1] - up[1] * zz[0],
  ];
  const nx = Math.hypot(...x);
  x = x.map((v) => v / nx);
  const y = [zz[1] * x[2] - zz[2] * x[1], zz[2] * x[0] - zz[0] * x[2], zz[0] * x[1] - zz[1] * x[0]];
  const R = Float64Array.of(...x, ...y, ...zz);
  const t = [0, 1, 2].map((r) =>
    -(R[3 * r] * centre[0] + R[3 * r + 1] * centre[1] + R[3 * r + 2] * centre[2])
  );
  return { R, t };
}

/**
 * Where a PINHOLE camera (COLMAP's `fx, fy, cx, cy`) at `pose` sees the world
 * point X: `[u, v, depth]`, (u, v) in this engine's pixel convention.
 */
export function projectPoint(
  params: readonly number[],
  pose: CameraPose,
  X: ArrayLike<number>,
): [number, number, number] {
  const { R, t } = pose;
  const xc = [0, 1, 2].map((r) =>
    R[3 * r] * X[0] + R[3 * r + 1] * X[1] + R[3 * r + 2] * X[2] + t[r]
  );
  return [
    params[0] * xc[0] / xc[2] + params[2] - 0.5,
    params[1] * xc[1] / xc[2] + params[3] - 0.5,
    xc[2],
  ];
}

/** `cameras` views (≥ 2) of `count` random points, seeded. */
export function syntheticScene(cameras = 5, count = 400, seed = 1): SyntheticScene {
  const rnd = seededRandom(seed);
  const width = 640, height = 480;
  const colmapParams: [number, number, number, number] = [500, 500, 320, 240];
  const points: [number, number, number][] = [];
  for (let i = 0; i < count; i++) points.push([2.5 * rnd(), 1.8 * rnd(), 6 + 1.5 * rnd()]);
  const poses: CameraPose[] = [];
  for (let c = 0; c < cameras; c++) {
    const x = -2 + (4 * c) / (cameras - 1);
    poses.push(lookAt([x, 0.3 * Math.sin(c), 0.2 * c], [0.1 * c, 0, 6]));
  }
  const projections = poses.map((pose) => {
    const out = new Float64Array(2 * count);
    points.forEach((X, i) => {
      const [u, v, depth] = projectPoint(colmapParams, pose, X);
      const inside = depth > 0 && u > 0 && v > 0 && u < width - 1 && v < height - 1;
      out[2 * i] = inside ? u : NaN;
      out[2 * i + 1] = inside ? v : NaN;
    });
    return out;
  });
  const names = poses.map((_, c) => `view_${String(c).padStart(2, "0")}.png`);
  return { width, height, colmapParams, points, poses, names, projections };
}
