/**
 * The network input size of an image ({@link ResizePolicy}) and the resize
 * itself: {@link resizeArea} is OpenCV's `INTER_AREA` on 8-bit images, bit
 * for bit (`cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)`).
 * @module
 */
import { type GrayImage, grayLevels, ImageError } from "./image.ts";

/**
 * How to choose the network input size:
 * * `{ longSide: N }`: the long side becomes N, the other keeps the aspect
 *   ratio; both are rounded to the nearest multiple of the stride (at least one stride).
 * * `{ width, height }`: exactly this size; both must be multiples of the stride.
 * * `"original"`: the image size rounded down to multiples of the stride.
 *
 * The default ({@link DEFAULT_RESIZE_POLICY}) is `{ longSide: 640 }`. LoFTR's
 * reference runs use `{ width: 640, height: 480 }` whatever the aspect ratio.
 */
export type ResizePolicy = { longSide: number } | { width: number; height: number } | "original";

/** The default {@link ResizePolicy}: long side 640, aspect ratio kept. */
export const DEFAULT_RESIZE_POLICY: ResizePolicy = { longSide: 640 };

/** The network input size chosen by {@link inputSize}, and the way back to original pixels. */
export interface InputSize {
  /** Input width, a multiple of the stride. */
  width: number;
  /** Input height, a multiple of the stride. */
  height: number;
  /** `originalWidth / width`: `x_orig = x_in * scaleX`. */
  scaleX: number;
  /** `originalHeight / height`: `y_orig = y_in * scaleY`. */
  scaleY: number;
}

/**
 * Throws {@link ImageError} (naming `name`) when `policy` cannot size images
 * for coarse stride `stride`: a long side below the stride, or a fixed size
 * that is not a positive multiple of it.
 */
export function checkResizePolicy(policy: ResizePolicy, stride: number, name: string): void {
  if (policy === "original") return;
  if ("longSide" in policy) {
    if (!(policy.longSide >= stride)) {
      throw new ImageError(`${name}: longSide ${policy.longSide} is below the stride ${stride}`);
    }
    return;
  }
  const { width: w, height: h } = policy;
  if (!(w > 0 && h > 0 && w % stride === 0 && h % stride === 0)) {
    throw new ImageError(
      `${name}: input size ${w}x${h} is not a positive multiple of the stride ${stride}`,
    );
  }
}

/**
 * The input size for an image of `width`×`height` under `policy` (the CLI's
 * default is {@link DEFAULT_RESIZE_POLICY}) with coarse stride `stride` (16 for the tiny
 * model, 8 for full LoFTR). Throws {@link ImageError} (naming `name`) when the
 * image is smaller than one stride on a side or `policy` is invalid.
 */
export function inputSize(
  width: number,
  height: number,
  policy: ResizePolicy,
  stride: number,
  name = "image",
): InputSize {
  if (width < stride || height < stride) {
    throw new ImageError(
      `${name}: ${width}x${height} image is smaller than the coarse stride ${stride}`,
    );
  }
  checkResizePolicy(policy, stride, name);
  const nearest = (v: number) => Math.max(stride, Math.round(v / stride) * stride);
  let w: number, h: number;
  if (policy === "original") {
    w = Math.floor(width / stride) * stride;
    h = Math.floor(height / stride) * stride;
  } else if ("longSide" in policy) {
    const s = policy.longSide / Math.max(width, height);
    w = nearest(width * s);
    h = nearest(height * s);
  } else {
    ({ width: w, height: h } = policy);
  }
  return { width: w, height: h, scaleX: width / w, scaleY: height / h };
}

/**
 * Resizes like `cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)`
 * on an 8-bit image (OpenCV 4.6): the input is taken as 8-bit levels
 * (`round(v * 255)`), the result is rounded to 8-bit and divided by 255.
 *
 * * Integer factors: block means, rounded (2×2: `(sum + 2) >> 2`).
 * * Other downscales: each destination pixel is the coverage-weighted mean of
 *   the source pixels under it (float32 weights and sums, as OpenCV).
 * * Upscaling on either axis: OpenCV's bilinear variant of INTER_AREA
 *   (fixed-point, 11-bit weights).
 */
export function resizeArea(img: GrayImage, width: number, height: number): GrayImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${img.name}: invalid resize target ${width}x${height}`);
  }
  const src = new Uint8Array(img.data.length);
  for (let i = 0; i < src.length; i++) src[i] = Math.round(img.data[i] * 255);
  const sw = img.width, sh = img.height;
  let out: Uint8Array;
  if (sw === width && sh === height) {
    out = src;
  } else {
    const invX = width / sw, invY = height / sh;
    const scaleX = 1 / invX, scaleY = 1 / invY;
    const iX = roundHalfEven(scaleX), iY = roundHalfEven(scaleY);
    if (scaleX >= 1 && scaleY >= 1) {
      out = Math.abs(scaleX - iX) < Number.EPSILON && Math.abs(scaleY - iY) < Number.EPSILON
        ? areaFast(src, sw, width, height, iX, iY)
        : areaGeneral(src, sw, sh, width, height, scaleX, scaleY);
    } else {
      out = areaLinear(src, sw, sh, width, height, scaleX, scaleY, invX, invY);
    }
  }
  return { width, height, data: grayLevels(out), name: img.name };
}

/** OpenCV's `cvRound` (round half to even, as `lrint`). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** OpenCV's `saturate_cast<uchar>(float)`. */
function saturateU8(v: number): number {
  return Math.min(255, Math.max(0, roundHalfEven(v)));
}

/** Integer-factor INTER_AREA (`resizeAreaFast_Invoker`); the source is exactly `iX·w × iY·h`. */
function areaFast(
  src: Uint8Array,
  sw: number,
  w: number,
  h: number,
  iX: number,
  iY: number,
): Uint8Array {
  const out = new Uint8Array(w * h);
  const scale = Math.fround(1 / (iX * iY));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let dy = 0; dy < iY; dy++) {
        const row = (y * iY + dy) * sw + x * iX;
        for (let dx = 0; dx < iX; dx++) sum += src[row + dx];
      }
      out[y * w + x] = iX === 2 && iY === 2 ? (sum + 2) >> 2 : saturateU8(Math.fround(sum * scale));
    }
  }
  return out;
}

/** One entry of OpenCV's `DecimateAlpha` table: source `si` contributes `alpha` to `di`. */
interface Decimate {
  di: number;
  si: number;
  alpha: number;
}

/** OpenCV's `computeResizeAreaTab` (double coverage, float32 weights). */
function areaTab(ssize: number, dsize: number, scale: number): Decimate[] {
  const tab: Decimate[] = [];
  for (let d = 0; d < dsize; d++) {
    const f1 = d * scale, f2 = f1 + scale;
    const cell = Math.min(scale, ssize - f1);
    let s2 = Math.floor(f2);
    s2 = Math.min(s2, ssize - 1);
    const s1 = Math.min(Math.ceil(f1), s2);
    if (s1 - f1 > 1e-3) tab.push({ di: d, si: s1 - 1, alpha: Math.fround((s1 - f1) / cell) });
    for (let s = s1; s < s2; s++) tab.push({ di: d, si: s, alpha: Math.fround(1 / cell) });
    if (f2 - s2 > 1e-3) {
      tab.push({ di: d, si: s2, alpha: Math.fround(Math.min(f2 - s2, 1, cell) / cell) });
    }
  }
  return tab;
}

/** Non-integer downscaling INTER_AREA (`ResizeArea_Invoker`, float32 accumulation). */
function areaGeneral(
  src: Uint8Array,
  sw: number,
  sh: number,
  w: number,
  h: number,
  scaleX: number,
  scaleY: number,
): Uint8Array {
  const xtab = areaTab(sw, w, scaleX), ytab = areaTab(sh, h, scaleY);
  const out = new Uint8Array(w * h);
  const buf = new Float32Array(w), sum = new Float32Array(w);
  const flush = (dy: number) => {
    for (let x = 0; x < w; x++) out[dy * w + x] = saturateU8(sum[x]);
  };
  let prev = ytab[0].di;
  for (const { di: dy, si: sy, alpha: beta } of ytab) {
    buf.fill(0);
    const row = sy * sw;
    for (const { di, si, alpha } of xtab) buf[di] += Math.fround(src[row + si] * alpha);
    if (dy !== prev) {
      flush(prev);
      for (let x = 0; x < w; x++) sum[x] = beta * buf[x];
      prev = dy;
    } else {
      for (let x = 0; x < w; x++) sum[x] += Math.fround(beta * buf[x]);
    }
  }
  flush(prev);
  return out;
}

/**
 * INTER_AREA when either axis is upscaled: OpenCV's `resizeGeneric` with
 * linear taps placed by the area rule and 11-bit fixed-point weights.
 */
function areaLinear(
  src: Uint8Array,
  sw: number,
  sh: number,
  w: number,
  h: number,
  scaleX: number,
  scaleY: number,
  invX: number,
  invY: number,
): Uint8Array {
  const ONE = 2048;
  const taps = (d: number, scale: number, inv: number) => {
    const s = Math.floor(d * scale);
    let f = Math.fround((d + 1) - (s + 1) * inv);
    f = f <= 0 ? 0 : Math.fround(f - Math.floor(f));
    return { s, f };
  };
  const xofs = new Int32Array(w), xa0 = new Int32Array(w), xa1 = new Int32Array(w);
  let xmax = w;
  for (let x = 0; x < w; x++) {
    let { s, f } = taps(x, scaleX, invX);
    if (s + 1 >= sw) {
      xmax = Math.min(xmax, x);
      if (s >= sw - 1) [s, f] = [sw - 1, 0];
    }
    xofs[x] = s;
    xa0[x] = roundHalfEven(Math.fround(1 - f) * ONE);
    xa1[x] = roundHalfEven(f * ONE);
  }
  const hresize = (sy: number) => {
    const row = new Int32Array(w), o = sy * sw;
    for (let x = 0; x < w; x++) {
      row[x] = x < xmax
        ? src[o + xofs[x]] * xa0[x] + src[o + xofs[x] + 1] * xa1[x]
        : src[o + xofs[x]] * ONE;
    }
    return row;
  };
  // The vertical pass as OpenCV 4.6 computes it for 8-bit images
  // (VResizeLinearVec_32s8u): 4 + 16 low bits are dropped before rounding.
  // Checked bit-exact against cv2 on 300 random sizes.
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const { s, f } = taps(y, scaleY, invY);
    const b0 = roundHalfEven(Math.fround(1 - f) * ONE), b1 = roundHalfEven(f * ONE);
    const r0 = hresize(s), r1 = hresize(Math.min(s + 1, sh - 1));
    for (let x = 0; x < w; x++) {
      const v = (((r0[x] >> 4) * b0 >> 16) + ((r1[x] >> 4) * b1 >> 16) + 2) >> 2;
      out[y * w + x] = Math.min(255, Math.max(0, v));
    }
  }
  return out;
}
