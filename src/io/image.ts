/**
 * Grayscale images: the {@link GrayImage} every part of the engine takes, and
 * the steps of reading one that do not depend on the platform, so that Deno
 * (decode.ts) and a page (the browser's decoders) give the same pixels as
 * LoFTR's reference preprocessing with OpenCV:
 *
 * * JPEG: libjpeg decodes a colour JPEG straight to its luma (Y) channel. A
 *   decoder that gives RGB is turned back into Y with the inverse BT.601
 *   weights (OpenCV's fixed-point `0.299 R + 0.587 G + 0.114 B`, rounded:
 *   {@link jpegLuma}); the EXIF orientation is applied as `imread` does.
 * * PNG: OpenCV asks libpng for gray (`png_set_rgb_to_gray(…, 0.299, 0.587)`),
 *   which truncates a 15-bit fixed-point sum ({@link pngGray}); alpha is
 *   dropped, not composited.
 * * 16-bit PNGs arrive as 8-bit from the decoders; OpenCV converts colour to
 *   gray before dropping the low byte, so colour ones may differ by one level.
 * * Other formats (GIF, TIFF, BMP, WebP) and CMYK JPEGs are refused with an
 *   {@link ImageError}.
 *
 * @module
 */

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
 * The format of encoded image bytes, PNG or JPEG; an {@link ImageError}
 * naming the image and what it is otherwise.
 */
export function imageFormat(bytes: Uint8Array, name: string): "PNG" | "JPEG" {
  if (bytes.length === 0) throw new ImageError(`${name}: empty file`);
  const type = SIGNATURES.find(([, sig]) => sig.every((b, i) => bytes[i] === b))?.[0];
  if (type !== "PNG" && type !== "JPEG") {
    const what = type === undefined ? "not an image" : `${type} is not supported`;
    throw new ImageError(`${name}: ${what} (expected PNG or JPEG)`);
  }
  return type;
}

/**
 * libpng's `png_do_rgb_to_gray` (8-bit, no gamma), as OpenCV requests it:
 * coefficients 0.299 and 0.587 in 1/32768 units, truncated; gray pixels pass
 * through unchanged; alpha is ignored.
 */
export function pngGray(rgba: ArrayLike<number>, n: number): Uint8Array {
  const gray = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const r = rgba[j], g = rgba[j + 1], b = rgba[j + 2];
    gray[i] = r === g && r === b ? r : (9797 * r + 19234 * g + 3737 * b) >> 15;
  }
  return gray;
}

/**
 * The JFIF luma of decoded RGB (`channels` bytes per pixel: 3, or 4 for a
 * browser's RGBA), with OpenCV's weights 4899, 9617, 1868 (1/16384), rounded.
 */
export function jpegLuma(rgb: ArrayLike<number>, n: number, channels = 3): Uint8Array {
  const gray = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += channels) {
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
  if (data instanceof Uint8Array) return { width, height, data: grayLevels(data), name };
  const i = data.findIndex((v) => !(v >= 0 && v <= 1));
  if (i >= 0) throw new ImageError(`${name}: value ${data[i]} at index ${i} is outside [0, 1]`);
  return { width, height, data: data.slice(), name };
}

/** 8-bit gray levels to intensities in [0, 1]. */
export function grayLevels(levels: Uint8Array): Float32Array {
  const out = new Float32Array(levels.length);
  for (let i = 0; i < levels.length; i++) out[i] = levels[i] / 255;
  return out;
}

/**
 * The EXIF orientation (1–8) of a JPEG's first Exif APP1 segment, 1 when
 * absent or malformed.
 */
export function orientation(bytes: Uint8Array): number {
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

/**
 * Applies EXIF orientation `o` as OpenCV's `ApplyExifOrientation` does, to
 * pixels of `channels` interleaved levels each.
 */
export function orient(
  pixels: Uint8Array,
  width: number,
  height: number,
  o: number,
  channels = 1,
): { width: number; height: number; pixels: Uint8Array } {
  if (o === 1) return { width, height, pixels };
  const transpose = o >= 5;
  // After the optional transpose: 2, 6 flip horizontally; 4, 8 vertically; 3, 7 both.
  const flipX = o === 2 || o === 3 || o === 6 || o === 7;
  const flipY = o === 3 || o === 4 || o === 7 || o === 8;
  const w = transpose ? height : width, h = transpose ? width : height;
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const tx = flipX ? w - 1 - x : x, ty = flipY ? h - 1 - y : y;
      const from = transpose ? tx * width + ty : ty * width + tx;
      for (let c = 0; c < channels; c++) {
        out[(y * w + x) * channels + c] = pixels[from * channels + c];
      }
    }
  }
  return { width: w, height: h, pixels: out };
}

/** A colour image, 8-bit RGB interleaved, row-major. */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `3 · width · height` levels, R G B per pixel. */
  data: Uint8Array;
  /** Where the image came from, for messages. */
  name: string;
}
