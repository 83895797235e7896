/**
 * Image input: decoding, grayscale conversion and resizing exactly as LoFTR's
 * reference preprocessing does it with OpenCV —
 * `cv2.imread(path, cv2.IMREAD_GRAYSCALE)`, then
 * `cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)`, then `/ 255`.
 *
 * * JPEG: libjpeg decodes a colour JPEG straight to its luma (Y) channel. The
 *   decoder here gives RGB, so Y is recovered with the inverse BT.601 weights
 *   (OpenCV's fixed-point `0.299 R + 0.587 G + 0.114 B`, rounded); the EXIF
 *   orientation is applied as `imread` does.
 * * PNG: OpenCV asks libpng for gray (`png_set_rgb_to_gray(…, 0.299, 0.587)`),
 *   which truncates a 15-bit fixed-point sum; alpha is dropped, not composited.
 * * 16-bit PNGs arrive as 8-bit from the decoder; OpenCV converts colour to
 *   gray before dropping the low byte, so colour ones may differ by one level.
 * * Other formats (GIF, TIFF, BMP, WebP) and CMYK JPEGs are refused with an
 *   {@link ImageError}.
 * * {@link resizeArea} is OpenCV's `INTER_AREA` on 8-bit images, bit for bit.
 *
 * @module
 */

import { jpegDecoder, pngDecoder } from "../deps.ts";

// The untyped imagescript decoders (see deps.ts), with the part of their API we use.
const jpegCodec = jpegDecoder as {
  init(): Promise<{
    /** `format`: 0 gray, 1 RGB, 2 CMYK; `buffer` holds 1, 3 or 4 bytes per pixel. */
    decode(
      bytes: Uint8Array,
    ): { width: number; height: number; format: number; buffer: Uint8Array };
  }>;
};
const pngCodec = pngDecoder as {
  init(): Promise<{
    /** `framebuffer`: RGBA, 8 bits per channel. */
    decode(bytes: Uint8Array): { width: number; height: number; framebuffer: Uint8Array };
  }>;
};

/** A grayscale image, values in [0, 1], row-major (`data[y * width + x]`). */
export interface GrayImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height` intensities in [0, 1]. */
  data: Float32Array;
  /** Where the image came from (a path or a caller's label), used in error messages. */
  name: string;
}

/** Thrown for unreadable or unusable images; the one-line message names the file. */
export class ImageError extends Error {
  /** Always `"ImageError"`. */
  override name = "ImageError";
}

/** Reads and decodes an image file (PNG or JPEG) to grayscale like `cv2.IMREAD_GRAYSCALE`. */
export async function loadImage(path: string): Promise<GrayImage> {
  let bytes: Uint8Array;
  try {
    if ((await Deno.stat(path)).isDirectory) throw new ImageError(`${path}: is a directory`);
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    if (e instanceof Deno.errors.NotFound) throw new ImageError(`${path}: no such file`);
    throw new ImageError(`${path}: cannot read (${(e as Error).message})`);
  }
  return decodeImage(bytes, path);
}

/** File signatures: the two formats read, and others named in the error. */
const SIGNATURES: [string, number[]][] = [
  ["PNG", [0x89, 0x50, 0x4e, 0x47]],
  ["JPEG", [0xff, 0xd8, 0xff]],
  ["GIF", [0x47, 0x49, 0x46, 0x38]],
  ["TIFF", [0x49, 0x49, 0x2a, 0x00]],
  ["TIFF", [0x4d, 0x4d, 0x00, 0x2a]],
  ["BMP", [0x42, 0x4d]],
  ["WebP", [0x52, 0x49, 0x46, 0x46]],
];

/**
 * Decodes PNG or JPEG bytes to grayscale like `cv2.IMREAD_GRAYSCALE` (see the
 * module notes); `name` labels the image in error messages.
 */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<GrayImage> {
  if (bytes.length === 0) throw new ImageError(`${name}: empty file`);
  const type = SIGNATURES.find(([, sig]) => sig.every((b, i) => bytes[i] === b))?.[0];
  if (type !== "PNG" && type !== "JPEG") {
    const what = type === undefined ? "not an image" : `${type} is not supported`;
    throw new ImageError(`${name}: ${what} (expected PNG or JPEG)`);
  }
  let width: number, height: number, gray: Uint8Array;
  try {
    if (type === "PNG") {
      const png = (await pngCodec.init()).decode(bytes);
      ({ width, height } = png);
      gray = pngGray(png.framebuffer, width * height);
    } else {
      const jpeg = (await jpegCodec.init()).decode(bytes);
      ({ width, height } = jpeg);
      if (jpeg.format === 2) throw new ImageError(`${name}: CMYK JPEG is not supported`);
      gray = jpeg.format === 0 ? jpeg.buffer : jpegLuma(jpeg.buffer, width * height);
    }
  } catch (e) {
    if (e instanceof ImageError) throw e;
    // The decoders' messages ("unreachable", "failed to decode (-8)") say nothing more.
    throw new ImageError(`${name}: corrupt or truncated ${type} data`);
  }
  if (width === 0 || height === 0) throw new ImageError(`${name}: image has zero size`);
  const orientation = type === "JPEG" ? exifOrientation(bytes) : 1;
  const oriented = orient(gray, width, height, orientation);
  return { ...oriented, data: toUnit(oriented.pixels), name };
}

/**
 * libpng's `png_do_rgb_to_gray` (8-bit, no gamma), as OpenCV requests it:
 * coefficients 0.299 and 0.587 in 1/32768 units, truncated; gray pixels pass
 * through unchanged; alpha is ignored.
 */
function pngGray(rgba: Uint8Array, n: number): Uint8Array {
  const gray = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const r = rgba[j], g = rgba[j + 1], b = rgba[j + 2];
    gray[i] = r === g && r === b ? r : (9797 * r + 19234 * g + 3737 * b) >> 15;
  }
  return gray;
}

/** The JFIF luma of decoded RGB, with OpenCV's weights 4899, 9617, 1868 (1/16384), rounded. */
function jpegLuma(rgb: Uint8Array, n: number): Uint8Array {
  const gray = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    gray[i] = (4899 * rgb[j] + 9617 * rgb[j + 1] + 1868 * rgb[j + 2] + 8192) >> 14;
  }
  return gray;
}

/**
 * Wraps a caller's grayscale array (8-bit levels, or floats in [0, 1]) as a
 * {@link GrayImage}; the data is copied. Throws {@link ImageError} on a size
 * mismatch, a non-positive size, or (floats) a value outside [0, 1] or NaN.
 */
export function grayFromArray(
  data: Uint8Array | Float32Array,
  width: number,
  height: number,
  name: string,
): GrayImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${name}: invalid size ${width}x${height}`);
  }
  if (data.length !== width * height) {
    throw new ImageError(
      `${name}: ${data.length} values for a ${width}x${height} image (expected ${width * height})`,
    );
  }
  if (data instanceof Uint8Array) return { width, height, data: toUnit(data), name };
  const i = data.findIndex((v) => !(v >= 0 && v <= 1));
  if (i >= 0) throw new ImageError(`${name}: value ${data[i]} at index ${i} is outside [0, 1]`);
  return { width, height, data: data.slice(), name };
}

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
  return { width, height, data: toUnit(out), name: img.name };
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

/** 8-bit levels to [0, 1]. */
function toUnit(levels: Uint8Array): Float32Array {
  const out = new Float32Array(levels.length);
  for (let i = 0; i < levels.length; i++) out[i] = levels[i] / 255;
  return out;
}

/**
 * The EXIF orientation (1–8) of a JPEG's first Exif APP1 segment, 1 when
 * absent or malformed.
 */
function exifOrientation(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 2;
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1], len = view.getUint16(p + 2);
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image
    const start = p + 4, end = p + 2 + len;
    if (end > bytes.length) break;
    const isExif = marker === 0xe1 && len >= 8 &&
      String.fromCharCode(...bytes.subarray(start, start + 6)) === "Exif\0\0";
    if (isExif) return tiffOrientation(view, start + 6, end);
    p = end;
  }
  return 1;
}

/** Tag 0x0112 of IFD0 of the TIFF structure at `[base, end)`, or 1. */
function tiffOrientation(view: DataView, base: number, end: number): number {
  if (base + 8 > end) return 1;
  const order = view.getUint16(base);
  if (order !== 0x4949 && order !== 0x4d4d) return 1;
  const le = order === 0x4949;
  const ifd = base + view.getUint32(base + 4, le);
  if (ifd + 2 > end) return 1;
  const count = view.getUint16(ifd, le);
  for (let k = 0; k < count; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > end) return 1;
    if (view.getUint16(e, le) === 0x0112) {
      const v = view.getUint16(e + 8, le);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** Applies EXIF orientation `o` as OpenCV's `ApplyExifOrientation` does. */
function orient(
  pixels: Uint8Array,
  width: number,
  height: number,
  o: number,
): { width: number; height: number; pixels: Uint8Array } {
  if (o === 1) return { width, height, pixels };
  const transpose = o >= 5;
  // After the optional transpose: 2, 6 flip horizontally; 4, 8 vertically; 3, 7 both.
  const flipX = o === 2 || o === 3 || o === 6 || o === 7;
  const flipY = o === 3 || o === 4 || o === 7 || o === 8;
  const w = transpose ? height : width, h = transpose ? width : height;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const tx = flipX ? w - 1 - x : x, ty = flipY ? h - 1 - y : y;
      out[y * w + x] = transpose ? pixels[tx * width + ty] : pixels[ty * width + tx];
    }
  }
  return { width: w, height: h, pixels: out };
}
