/**
 * A top view of a reconstruction (`DIR/cameras.png`): the 3D points from
 * above, each camera as a blue dot with a line along its viewing direction,
 * and, when the ground truth is given, the reconstruction aligned to it
 * (Umeyama similarity of the camera centres) with every ground-truth centre
 * as a black ring joined to its estimate by a red line.
 *
 * "Above" is found from the photos, not from the model's axes (COLMAP's
 * frame is arbitrary): the vertical is the mean of the cameras' image-down
 * axes (photos are mostly taken upright), and the screen's up is the mean
 * viewing direction laid flat, so the cameras sit at the bottom looking up.
 * Points outside the 2nd–98th percentile box of the points are left out of
 * the framing (they are drawn if they fall inside it).
 * @module
 */
import {
  alignedErrors,
  applySimilarity,
  cameraCentre,
  type CameraPose,
} from "../geometry/sfm_metric.ts";
import type { Vec3 } from "../geometry/linalg.ts";
import { encodePng } from "./viz.ts";

/** Options of the top view. */
export interface TopViewOptions {
  /** Ground-truth cameras (name → world-to-camera pose), to align to and draw beside. */
  gt?: ReadonlyMap<string, CameraPose>;
  /** Per point, its colour `[r, g, b, r, g, b, …]` (default grey). */
  colors?: ArrayLike<number>;
  /** Longer side of the picture in pixels (default 800). */
  size?: number;
}

/** An RGBA picture. */
export interface Rgba {
  /** Pixels, 4 bytes each, row-major. */
  data: Uint8Array;
  /** Width. */
  width: number;
  /** Height. */
  height: number;
}

const BLUE = [30, 90, 220], BLACK = [0, 0, 0], RED = [220, 30, 30];

function sub(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}
function dot(a: ArrayLike<number>, b: ArrayLike<number>) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
function cross(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
function unit(a: Vec3): Vec3 {
  const n = Math.hypot(...a);
  return n > 0 ? [a[0] / n, a[1] / n, a[2] / n] : [0, 0, 0];
}

/**
 * Draws the top view as RGBA (see the module's notes). `points` is
 * `[x, y, z, …]` in the reconstruction's frame; `cameras` are its registered
 * photos. With `gt` and at least 3 photos in common, everything is drawn in
 * the ground truth's frame.
 */
export function renderCameraTopView(
  cameras: ReadonlyMap<string, CameraPose>,
  points: ArrayLike<number>,
  options: TopViewOptions = {},
): Rgba {
  const size = options.size ?? 800;
  // into the ground truth's frame when possible
  const aligned = options.gt ? alignedErrors(cameras, options.gt) : null;
  const T = aligned?.similarity;
  const move = (x: ArrayLike<number>): Vec3 => (T ? applySimilarity(T, x) : [x[0], x[1], x[2]]);
  const rotate = (v: ArrayLike<number>): Vec3 =>
    T ? [dot(T.R.subarray(0, 3), v), dot(T.R.subarray(3, 6), v), dot(T.R.subarray(6, 9), v)] : [
      v[0],
      v[1],
      v[2],
    ];
  const cams = [...cameras].map(([name, p]) => ({
    name,
    centre: move(cameraCentre(p)),
    down: rotate([p.R[3], p.R[4], p.R[5]]),
    view: rotate([p.R[6], p.R[7], p.R[8]]),
  }));
  const gtCams = T && options.gt
    ? [...options.gt].map(([name, p]) => ({ name, centre: cameraCentre(p) }))
    : [];
  // screen axes: right = down × forward, up = forward (both horizontal)
  let down: Vec3 = [0, 0, 0], fwd: Vec3 = [0, 0, 0];
  for (const c of cams) {
    down = [down[0] + c.down[0], down[1] + c.down[1], down[2] + c.down[2]];
    fwd = [fwd[0] + c.view[0], fwd[1] + c.view[1], fwd[2] + c.view[2]];
  }
  down = unit(down);
  if (Math.hypot(...down) === 0) down = [0, 0, 1];
  fwd = unit(sub(fwd, down.map((d) => d * dot(fwd, down)) as Vec3));
  if (Math.hypot(...fwd) === 0) {
    fwd = unit(cross(down, Math.abs(down[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0]));
  }
  const right = cross(down, fwd);
  const project = (x: ArrayLike<number>): [number, number] => [dot(x, right), dot(x, fwd)];

  const n = Math.floor(points.length / 3);
  const pts: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    pts.push(project(move([points[3 * i], points[3 * i + 1], points[3 * i + 2]])));
  }
  const camXY = cams.map((c) => project(c.centre));
  const gtXY = gtCams.map((c) => project(c.centre));
  // framing: cameras, ground truth, and the 2nd–98th percentile box of the points
  const xs = [...camXY, ...gtXY].map((p) => p[0]), ys = [...camXY, ...gtXY].map((p) => p[1]);
  if (pts.length) {
    const px = pts.map((p) => p[0]).sort((a, b) => a - b),
      py = pts.map((p) => p[1]).sort((a, b) => a - b);
    const q = (v: number[], f: number) => v[Math.min(v.length - 1, Math.floor(f * v.length))];
    xs.push(q(px, 0.02), q(px, 0.98));
    ys.push(q(py, 0.02), q(py, 0.98));
  }
  if (xs.length === 0) xs.push(-1, 1), ys.push(-1, 1);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const span = Math.max(x1 - x0, y1 - y0, 1e-9);
  const pad = 0.06 * span;
  x0 -= pad, x1 += pad, y0 -= pad, y1 += pad;
  const scale = (size - 1) / Math.max(x1 - x0, y1 - y0);
  const width = Math.max(16, Math.round((x1 - x0) * scale) + 1);
  const height = Math.max(16, Math.round((y1 - y0) * scale) + 1);
  const data = new Uint8Array(4 * width * height).fill(255);
  const toPx = (
    p: [number, number],
  ): [number, number] => [(p[0] - x0) * scale, (y1 - p[1]) * scale];
  const plot = (x: number, y: number, c: ArrayLike<number>) => {
    const xi = Math.round(x), yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= width || yi >= height) return;
    const o = 4 * (yi * width + xi);
    data[o] = c[0], data[o + 1] = c[1], data[o + 2] = c[2], data[o + 3] = 255;
  };
  const line = (a: [number, number], b: [number, number], c: ArrayLike<number>) => {
    const steps = Math.ceil(Math.max(Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]))) + 1;
    for (let s = 0; s <= steps; s++) {
      plot(a[0] + ((b[0] - a[0]) * s) / steps, a[1] + ((b[1] - a[1]) * s) / steps, c);
    }
  };
  const disc = (p: [number, number], r: number, c: ArrayLike<number>, ring = false) => {
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        const d = Math.hypot(dx, dy);
        if (d <= r + 0.3 && (!ring || d >= r - 1.2)) plot(p[0] + dx, p[1] + dy, c);
      }
    }
  };
  pts.forEach((p, i) => {
    const c = options.colors
      ? [options.colors[3 * i], options.colors[3 * i + 1], options.colors[3 * i + 2]]
      : [150, 150, 150];
    const [x, y] = toPx(p);
    plot(x, y, c);
  });
  const arrow = 0.04 * span * scale;
  cams.forEach((c, i) => {
    const a = toPx(camXY[i]);
    const v = [dot(c.view, right), dot(c.view, fwd)], nv = Math.hypot(v[0], v[1]) || 1;
    line(a, [a[0] + (arrow * v[0]) / nv, a[1] - (arrow * v[1]) / nv], BLUE);
  });
  gtCams.forEach((g, i) => {
    const k = cams.findIndex((c) => c.name === g.name);
    if (k >= 0) line(toPx(gtXY[i]), toPx(camXY[k]), RED);
    disc(toPx(gtXY[i]), 6, BLACK, true);
  });
  camXY.forEach((p) => disc(toPx(p), 3, BLUE));
  return { data, width, height };
}

/** `renderCameraTopView` as PNG bytes, for `DIR/cameras.png`. */
export function drawCameraTopView(
  cameras: ReadonlyMap<string, CameraPose>,
  points: ArrayLike<number>,
  options: TopViewOptions = {},
): Uint8Array {
  const { data, width, height } = renderCameraTopView(cameras, points, options);
  return encodePng(data, width, height);
}
