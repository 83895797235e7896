/**
 * Match drawings as RGBA bitmaps, platform-neutral: both images side by side
 * with a line per match (viz.ts encodes them as PNG in Deno; a page puts them
 * on a canvas).
 *
 * @module
 */

import type { GrayImage } from "./image.ts";
import { resizeArea } from "./resize.ts";

/** Options of {@link matchesBitmap} (and viz.ts's `drawMatches`). */
export interface DrawMatchesOptions {
  /**
   * Per-match confidence in [0, 1]; lines are coloured with viridis (dark
   * purple = 0, yellow = 1). Default: every line yellow.
   */
  confidence?: ArrayLike<number>;
  /** Inlier mask (truthy = inlier): inliers green, outliers red. Takes precedence over `confidence`. */
  inliers?: ArrayLike<boolean | number>;
  /** Radius in pixels of the filled circles at both endpoints (default 2; 0 draws none). */
  radius?: number;
  /** White gap in pixels between the two images (default 10). */
  gap?: number;
  /**
   * Longest side of either image in the drawing (default: none, original
   * size): larger images are shrunk by one common factor (INTER_AREA), and
   * the keypoints with them.
   */
  maxSide?: number;
}

/** An RGB colour, 0–255 per channel. */
export type Rgb = readonly [number, number, number];

/** viridis (matplotlib, CC0) at 0, 1/8, …, 1, interpolated linearly by {@link viridis}. */
const VIRIDIS: readonly Rgb[] = [
  [0x44, 0x01, 0x54],
  [0x47, 0x2d, 0x7b],
  [0x3b, 0x52, 0x8b],
  [0x2c, 0x72, 0x8e],
  [0x21, 0x90, 0x8c],
  [0x27, 0xad, 0x81],
  [0x5d, 0xc8, 0x63],
  [0xaa, 0xdc, 0x32],
  [0xfd, 0xe7, 0x25],
];

/** An RGBA bitmap, 4 bytes per pixel, row-major. */
export interface Bitmap {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `4 * width * height` bytes: R, G, B, A. */
  rgba: Uint8Array;
}

const GREEN: Rgb = [0, 255, 0];
const RED: Rgb = [255, 0, 0];

/** The viridis colour of `t` (clamped to [0, 1]). */
export function viridis(t: number): Rgb {
  const u = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(u), VIRIDIS.length - 2), f = u - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  const mix = (c: number) => Math.round(a[c] + (b[c] - a[c]) * f);
  return [mix(0), mix(1), mix(2)];
}

/**
 * Draws `img0` and `img1` side by side (top-aligned, `gap` white columns
 * between them, the shorter one padded with white below) and one 1-pixel line
 * per match from `kpts0[k]` to `kpts1[k]`, with a filled circle at each end.
 * Keypoints are flat `[x0, y0, x1, y1, …]` in pixels of the image they belong
 * to (of the original images when `maxSide` shrinks them). Returns the RGBA
 * bitmap. Throws `RangeError` on mismatched lengths, non-finite keypoints,
 * or a `gap` or `radius` that is not an integer >= 0.
 */
export function matchesBitmap(
  img0: GrayImage,
  img1: GrayImage,
  kpts0: ArrayLike<number>,
  kpts1: ArrayLike<number>,
  options: DrawMatchesOptions = {},
): Bitmap {
  const { confidence, inliers, radius = 2, gap = 10, maxSide = Infinity } = options;
  const n = kpts0.length / 2;
  if (kpts0.length % 2 !== 0 || kpts1.length !== kpts0.length) {
    throw new RangeError(`matchesBitmap: kpts0 has ${kpts0.length} values, kpts1 ${kpts1.length}`);
  }
  for (const [label, a] of [["confidence", confidence], ["inliers", inliers]] as const) {
    if (a !== undefined && a.length !== n) {
      throw new RangeError(`matchesBitmap: ${label} has ${a.length} entries for ${n} matches`);
    }
  }
  if (!(Number.isInteger(gap) && gap >= 0 && Number.isInteger(radius) && radius >= 0)) {
    throw new RangeError(`matchesBitmap: gap ${gap} and radius ${radius} must be integers >= 0`);
  }
  const s = Math.min(1, maxSide / Math.max(img0.width, img0.height, img1.width, img1.height));
  if (s < 1) {
    const shrink = (g: GrayImage) =>
      resizeArea(g, Math.max(1, Math.round(g.width * s)), Math.max(1, Math.round(g.height * s)));
    // Pixel centres scale about the image corner: (x + 0.5) s − 0.5.
    const scale = (k: ArrayLike<number>) => Float64Array.from(k, (v) => (v + 0.5) * s - 0.5);
    [img0, img1, kpts0, kpts1] = [shrink(img0), shrink(img1), scale(kpts0), scale(kpts1)];
  }
  const offset = img0.width + gap;
  const width = offset + img1.width, height = Math.max(img0.height, img1.height);
  const px = new Uint8Array(4 * width * height).fill(255);
  for (const [img, x0] of [[img0, 0], [img1, offset]] as const) {
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const v = Math.round(img.data[y * img.width + x] * 255), o = 4 * (y * width + x0 + x);
        px[o] = px[o + 1] = px[o + 2] = v;
      }
    }
  }
  const plot = (x: number, y: number, [r, g, b]: Rgb) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const o = 4 * (y * width + x);
    px[o] = r;
    px[o + 1] = g;
    px[o + 2] = b;
  };
  const ends: [number, number, Rgb][] = [];
  for (let k = 0; k < n; k++) {
    const ax = kpts0[2 * k], ay = kpts0[2 * k + 1], bx = kpts1[2 * k], by = kpts1[2 * k + 1];
    if (![ax, ay, bx, by].every(Number.isFinite)) {
      throw new RangeError(`matchesBitmap: match ${k} has a non-finite keypoint`);
    }
    const color = inliers ? (inliers[k] ? GREEN : RED) : viridis(confidence ? confidence[k] : 1);
    const x0 = Math.round(ax), y0 = Math.round(ay);
    const x1 = Math.round(bx) + offset, y1 = Math.round(by);
    line(x0, y0, x1, y1, (x, y) => plot(x, y, color));
    ends.push([x0, y0, color], [x1, y1, color]);
  }
  for (const [cx, cy, color] of ends) {
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) {
        if (dx * dx + dy * dy <= radius * radius) plot(cx + dx, cy + dy, color);
      }
    }
  }
  return { width, height, rgba: px };
}

/** Bresenham's line from (x0, y0) to (x1, y1), both ends included. */
function line(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  plot: (x: number, y: number) => void,
) {
  const dx = Math.abs(x1 - x0), dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    plot(x0, y0);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}
