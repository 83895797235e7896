/**
 * Sub-pixel refinement of coarse matches without learned weights: a coarse-only
 * model places both keypoints of a match on its coarse grid (16 input pixels,
 * about 24 original pixels at 800 px for a 1200-px photo). Each match keeps the
 * centre of its image-0 cell as the anchor and looks for the anchor's patch
 * in image 1 by normalised cross-correlation (NCC) of the grey levels,
 * coarse to fine over an image pyramid, down to the whole pixel. The
 * sub-pixel step is then either an affine Lucas–Kanade alignment of a 17×17
 * patch (`affine`, the default: {@link alignAffine}) or a quadratic fitted to
 * the 3×3 NCC values around the peak (`quadratic`: cheaper; on whole- and
 * half-pixel shifts of a real photo, 70–80% of the matches land within
 * 0.25 px, but a patch of a surface seen from another viewpoint is sheared,
 * which a shift alone cannot follow).
 * @module
 */
import type { GrayImage } from "../io/image.ts";
import { resizeArea } from "../io/resize.ts";
import { alignAffine } from "./lucas_kanade.ts";

/** Options of {@link nccRefinement}. */
export interface RefineOptions {
  /** Patch radius in pixels at every pyramid level (default 4: 9×9 patches). */
  patchRadius?: number;
  /** Matches whose NCC search ends below this at full resolution are dropped (default 0.5). */
  minScore?: number;
  /**
   * `affine` only: matches whose aligned patches correlate (ZNCC) below this
   * are dropped (default 0.8: on relpose_dev, fountain + herzjesu mAA 0.890
   * against 0.875 with no such bound; bench/results/quality_sweep.md).
   */
  minAlignedScore?: number;
  /**
   * The sub-pixel step after the whole-pixel NCC search (default `affine`):
   * `affine`, an affine Lucas–Kanade alignment ({@link alignAffine}; about
   * 3× the time of `quadratic`); `quadratic`, the peak of a quadratic fitted
   * to the 3×3 NCC values.
   */
  subpixel?: "affine" | "quadratic";
  /** Patch radius of the affine alignment, pixels (default 8: 17×17 patches). */
  alignRadius?: number;
  /** Most Gauss–Newton steps of the affine alignment (default 20). */
  alignIterations?: number;
}

/** Refined matches: the subset of the input that found its patch, in original pixels. */
export interface RefinedMatches {
  /** Number of matches kept. */
  count: number;
  /**
   * Anchors in image 0 (`[x, y, …]`: the centres of the coarse cells, rounded
   * to whole pixels of image 0, or of its reduction when its cells are the
   * larger by more than a quarter).
   */
  keypoints0: Float64Array;
  /** Their sub-pixel positions in image 1. */
  keypoints1: Float64Array;
  /** NCC of each kept match at full resolution (of the aligned patch for `affine`), in [-1, 1]. */
  score: Float32Array;
  /** Index in the input of each kept match. */
  index: Uint32Array;
}

/** Pixels a search level's cell may hold before the search moves one pyramid level up. */
const CELL_PER_LEVEL = 12;
/** Search radius (pixels) at the levels below the coarsest. */
const STEP_RADIUS = 2;

/**
 * Refines coarse matches given as the top-left corners of coarse cells (the
 * {@link Matcher}'s keypoints for a model without a fine stage), in original
 * pixels. `cells` is the size in original pixels of one coarse cell of image
 * 0 and of image 1: `[stride · originalWidth / inputWidth, stride ·
 * originalHeight / inputHeight]`.
 *
 * The search starts at the pyramid level (2× INTER_AREA steps) where a cell
 * of image 1 is at most 2·12 pixels, over the whole matched cell plus 2
 * pixels, then ±2 pixels at each finer level, then the sub-pixel step of
 * `options.subpixel`. When one image's cells are larger than the other's by
 * more than a quarter (photos of different resolutions), that image is first
 * reduced to the other's scale. Matches whose patch leaves the image, whose image-0
 * patch is flat, whose NCC at full resolution is below `minScore`, or whose
 * affine alignment diverges or ends below `minAlignedScore` are dropped.
 */
export function nccRefinement(
  img0: GrayImage,
  img1: GrayImage,
  kpts0: ArrayLike<number>,
  kpts1: ArrayLike<number>,
  cells: readonly [readonly [number, number], readonly [number, number]],
  options: RefineOptions = {},
): RefinedMatches {
  const {
    patchRadius: r = 4,
    minScore = 0.5,
    minAlignedScore = 0.8,
    subpixel = "affine",
    alignRadius = 8,
    alignIterations = 20,
  } = options;
  if (kpts0.length % 2 !== 0 || kpts1.length !== kpts0.length) {
    throw new RangeError(`nccRefinement: kpts0 has ${kpts0.length} values, kpts1 ${kpts1.length}`);
  }
  if (!(Number.isInteger(r) && r >= 1)) {
    throw new RangeError(`nccRefinement: patchRadius ${r} must be an integer >= 1`);
  }
  if (subpixel !== "affine" && subpixel !== "quadratic") {
    throw new RangeError(`nccRefinement: subpixel ${subpixel} must be affine or quadratic`);
  }
  for (const [name, v] of [["alignRadius", alignRadius], ["alignIterations", alignIterations]]) {
    if (!(Number.isInteger(v) && (v as number) >= 1)) {
      throw new RangeError(`nccRefinement: ${name} ${v} must be an integer >= 1`);
    }
  }
  const [cell0, cell1] = cells.map((c) => Math.max(...c));
  if (Math.max(cell0, cell1) > MAX_CELL_RATIO * Math.min(cell0, cell1)) {
    return atCommonScale(img0, img1, kpts0, kpts1, cells, cell0 > cell1 ? 0 : 1, options);
  }
  const levels = Math.max(0, Math.floor(Math.log2(cell1 / CELL_PER_LEVEL)));
  const pyramid0 = pyramid(img0, levels), pyramid1 = pyramid(img1, levels);
  const firstRadius = Math.ceil(cell1 / 2 ** levels / 2) + STEP_RADIUS;
  // Level-0 pixel coordinate → level-l coordinate (pixel centres), and one level down.
  const toLevel = (v: number, l: number) => (v + 0.5) / 2 ** l - 0.5;
  const down = (v: number) => 2 * v + 0.5;
  const n = kpts0.length / 2;
  const k0: number[] = [], k1: number[] = [], score: number[] = [], index: number[] = [];
  for (let m = 0; m < n; m++) {
    // The anchor: the image-0 cell's centre rounded to a whole pixel; at coarser levels, the
    // whole pixel nearest to it. The image-1 estimate follows the anchor's rounding offsets.
    const x0 = Math.round(kpts0[2 * m] + cells[0][0] / 2 - 0.5);
    const y0 = Math.round(kpts0[2 * m + 1] + cells[0][1] / 2 - 0.5);
    let ax = Math.round(toLevel(x0, levels)), ay = Math.round(toLevel(y0, levels));
    let bx = toLevel(kpts1[2 * m] + cells[1][0] / 2 - 0.5, levels);
    let by = toLevel(kpts1[2 * m + 1] + cells[1][1] / 2 - 0.5, levels);
    let best: Peak | null = null;
    for (let l = levels; l >= 0; l--) {
      if (l < levels) {
        const [px, py] = [ax, ay];
        [ax, ay] = [Math.round(toLevel(x0, l)), Math.round(toLevel(y0, l))];
        bx = down(bx) + ax - down(px);
        by = down(by) + ay - down(py);
      }
      const radius = l === levels ? firstRadius : STEP_RADIUS;
      const quadratic = l > 0 || subpixel === "quadratic";
      best = search(pyramid0[l], ax, ay, pyramid1[l], bx, by, r, radius, quadratic);
      if (!best) break;
      [bx, by] = [best.x, best.y];
    }
    if (!best || best.score < minScore) continue;
    if (subpixel === "affine") {
      const a = alignAffine(img0, ax, ay, img1, bx, by, alignRadius, alignIterations);
      if (!a || a.zncc < minAlignedScore) continue;
      [bx, by, best.score] = [a.x, a.y, a.zncc];
    }
    k0.push(ax, ay);
    k1.push(bx, by);
    score.push(best.score);
    index.push(m);
  }
  return {
    count: index.length,
    keypoints0: Float64Array.from(k0),
    keypoints1: Float64Array.from(k1),
    score: Float32Array.from(score),
    index: Uint32Array.from(index),
  };
}

/**
 * Cells of one image larger than the other's by more than this factor (a
 * photo of far more pixels, or a close-up beside a wide view) are refined at
 * the other image's scale: patches of the same pixel size then show about the
 * same part of the scene.
 */
const MAX_CELL_RATIO = 1.25;

/**
 * {@link nccRefinement} of images whose cells differ in size by more than
 * {@link MAX_CELL_RATIO}: image `big`, the one with the larger cells, is
 * reduced (INTER_AREA) to the other's scale, the matches refined there and
 * its positions mapped back.
 */
function atCommonScale(
  img0: GrayImage,
  img1: GrayImage,
  kpts0: ArrayLike<number>,
  kpts1: ArrayLike<number>,
  cells: readonly [readonly [number, number], readonly [number, number]],
  big: 0 | 1,
  options: RefineOptions,
): RefinedMatches {
  const img = big === 0 ? img0 : img1, other = cells[1 - big];
  const scale = Math.max(...other) / Math.max(...cells[big]);
  const small = resizeArea(
    img,
    Math.max(1, Math.round(img.width * scale)),
    Math.max(1, Math.round(img.height * scale)),
  );
  const [sx, sy] = [small.width / img.width, small.height / img.height];
  // Cell corners are pixel edges (they scale as they are); results are pixel centres.
  const shrink = (k: ArrayLike<number>) => Float64Array.from(k, (v, i) => v * (i % 2 ? sy : sx));
  const cell: [number, number] = [cells[big][0] * sx, cells[big][1] * sy];
  const r = big === 0
    ? nccRefinement(small, img1, shrink(kpts0), kpts1, [cell, cells[1]], options)
    : nccRefinement(img0, small, kpts0, shrink(kpts1), [cells[0], cell], options);
  const grown = big === 0 ? r.keypoints0 : r.keypoints1;
  for (let i = 0; i < grown.length; i++) {
    grown[i] = (grown[i] + 0.5) / (i % 2 ? sy : sx) - 0.5;
  }
  return r;
}

/** `img` and its successive 2× INTER_AREA reductions, `levels` of them. */
function pyramid(img: GrayImage, levels: number): GrayImage[] {
  const out = [img];
  for (let l = 0; l < levels; l++) {
    const p = out[l];
    out.push(resizeArea(p, Math.max(1, p.width >> 1), Math.max(1, p.height >> 1)));
  }
  return out;
}

/** The best NCC position, sub-pixel, and its score. */
interface Peak {
  x: number;
  y: number;
  score: number;
}

/**
 * The position in `img1` within ±`radius` of `(bx, by)` (rounded) whose
 * (2r+1)² patch best matches, by NCC, the patch of `img0` centred on the whole
 * pixel `(ax, ay)`; sub-pixel by {@link quadraticPeak} when `quadratic`. `null` when the
 * template is outside `img0` or flat, or no candidate patch lies inside `img1`.
 */
function search(
  img0: GrayImage,
  ax: number,
  ay: number,
  img1: GrayImage,
  bx: number,
  by: number,
  r: number,
  radius: number,
  quadratic: boolean,
): Peak | null {
  const side = 2 * r + 1, size = side * side;
  if (ax - r < 0 || ay - r < 0 || ax + r >= img0.width || ay + r >= img0.height) return null;
  // Zero-mean, unit-norm template: then NCC = Σ t·p / √(Σp² − (Σp)²/n).
  const t = new Float64Array(size);
  let mean = 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      mean += t[y * side + x] = img0.data[(ay - r + y) * img0.width + ax - r + x];
    }
  }
  mean /= size;
  let norm = 0;
  for (let i = 0; i < size; i++) norm += (t[i] -= mean) ** 2;
  if (norm < 1e-8) return null;
  for (let i = 0; i < size; i++) t[i] /= Math.sqrt(norm);

  const cx = Math.round(bx), cy = Math.round(by), w = 2 * radius + 1;
  const scores = new Float64Array(w * w).fill(NaN);
  let bestScore = -Infinity, bi = -1;
  for (let dy = -radius; dy <= radius; dy++) {
    const y0 = cy + dy - r;
    if (y0 < 0 || y0 + side > img1.height) continue;
    for (let dx = -radius; dx <= radius; dx++) {
      const x0 = cx + dx - r;
      if (x0 < 0 || x0 + side > img1.width) continue;
      let tp = 0, s = 0, ss = 0;
      for (let y = 0; y < side; y++) {
        const row = (y0 + y) * img1.width + x0;
        for (let x = 0; x < side; x++) {
          const p = img1.data[row + x];
          tp += t[y * side + x] * p;
          s += p;
          ss += p * p;
        }
      }
      const v = ss - (s * s) / size;
      const ncc = v > 1e-8 ? tp / Math.sqrt(v) : 0;
      const i = (dy + radius) * w + dx + radius;
      scores[i] = ncc;
      if (ncc > bestScore) [bestScore, bi] = [ncc, i];
    }
  }
  if (bi < 0) return null;
  const ix = bi % w, iy = Math.floor(bi / w);
  const [ox, oy] = quadratic && ix > 0 && ix < w - 1 && iy > 0 && iy < w - 1
    ? quadraticPeak((dx, dy) => scores[bi + dy * w + dx])
    : [0, 0];
  return {
    x: cx + ix - radius + ox,
    y: cy + iy - radius + oy,
    score: bestScore,
  };
}

/**
 * Offset of the maximum of the quadratic `a + bx + cy + dx² + exy + fy²` fitted by least
 * squares to `f` on {−1, 0, 1}², each coordinate clamped to ±0.5; (0, 0) when the fit has no
 * maximum or a value is missing (NaN: beside the image). The cross term keeps peaks of
 * oblique structures from biasing the other axis.
 */
function quadraticPeak(f: (dx: number, dy: number) => number): [number, number] {
  let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, s = 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const v = f(dx, dy);
      s += v;
      sx += dx * v;
      sy += dy * v;
      sxx += dx * dx * v;
      syy += dy * dy * v;
      sxy += dx * dy * v;
    }
  }
  // Normal equations on the 3×3 grid: b = Σxv/6, d = (Σx²v − 2/3·Σv)/2, e = Σxyv/4 (c, f alike).
  const b = sx / 6,
    c = sy / 6,
    d = (sxx - (2 / 3) * s) / 2,
    e = sxy / 4,
    g = (syy - (2 / 3) * s) / 2;
  const det = 4 * d * g - e * e;
  if (!(d < 0 && det > 0)) return [0, 0];
  const clamp = (v: number) => Math.max(-0.5, Math.min(0.5, v));
  return [clamp((e * c - 2 * g * b) / det), clamp((e * b - 2 * d * c) / det)];
}
