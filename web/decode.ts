/// <reference lib="dom" />
/**
 * Image decoding in a browser: PNG or JPEG bytes to the engine's
 * {@link GrayImage} with the browser's own decoders (`createImageBitmap`,
 * `OffscreenCanvas`), converted to gray by src/io/image.ts as Deno's decoder
 * (src/io/decode.ts) does, with its error messages:
 *
 * * PNG: libpng's truncated gray (`pngGray`), alpha ignored: the same levels
 *   as in Deno.
 * * JPEG: the luma of the decoded RGB (`jpegLuma`). Browsers decode with
 *   libjpeg-turbo, Deno with imagescript's decoder: levels may differ by the
 *   IDCT and chroma-upsampling rounding (at most 1 level on 0.2% of the
 *   pixels of the example pair).
 * * EXIF orientation: applied by the browser (`imageOrientation:
 *   "from-image"`; Chromium applies it whatever that option says), which for
 *   well-formed EXIF gives OpenCV's result, as src/io/image.ts's `orient`.
 * * No colour management (`colorSpaceConversion: "none"`): an ICC profile
 *   or gAMA chunk does not move the levels. A 2-D canvas stores
 *   premultiplied colour, which would round (and at alpha 0 erase) the RGB
 *   of translucent pixels that OpenCV reads unchanged, so a PNG with alpha
 *   is read back through a WebGL2 texture (`UNPACK_PREMULTIPLY_ALPHA_WEBGL`
 *   false) where there is one.
 *
 * Nothing here touches `document`: it runs in the page's worker, so that
 * decoding a large photo does not block the page.
 * @module
 */

import {
  type GrayImage,
  grayLevels,
  ImageError,
  imageFormat,
  jpegLuma,
  pngGray,
} from "../src/io/image.ts";

/** Rows read back from the canvas at a time: bounds the RGBA copy of a large photo. */
const STRIP_ROWS = 256;

/** RGBA of `n` pixels to gray levels. */
type ToGray = (rgba: ArrayLike<number>, n: number) => Uint8Array;

/**
 * Decodes a PNG or JPEG (a `File`, a fetched `Blob`) to grayscale as Deno
 * does (see the module notes). Throws an `ImageError` with a one-line
 * message naming the image.
 */
export async function decodeInBrowser(blob: Blob, name: string): Promise<GrayImage> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const type = imageFormat(bytes, name);
  if (type === "JPEG" && isCmykJpeg(bytes)) {
    throw new ImageError(`${name}: CMYK JPEG is not supported`);
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: `image/${type.toLowerCase()}` }), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
      imageOrientation: "from-image",
    });
  } catch {
    // Browsers say only "The source image could not be decoded."
    throw new ImageError(`${name}: corrupt or truncated ${type} data`);
  }
  try {
    const { width, height } = bitmap;
    if (width === 0 || height === 0) throw new ImageError(`${name}: image has zero size`);
    const toGray: ToGray = type === "PNG" ? pngGray : (rgba, n) => jpegLuma(rgba, n, 4);
    const gl = type === "PNG" && pngHasAlpha(bytes) ? webgl2() : null;
    const levels = gl ? grayByWebgl2(gl, bitmap, toGray) : grayByCanvas(bitmap, toGray);
    return { width, height, data: grayLevels(levels), name };
  } finally {
    bitmap.close();
  }
}

/** Whether a PNG has an alpha channel (colour type 4 or 6) or a tRNS chunk. */
function pngHasAlpha(bytes: Uint8Array): boolean {
  if (bytes.length < 33) return false;
  const colourType = bytes[25];
  if (colourType === 4 || colourType === 6) return true;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 8; p + 8 <= bytes.length;) {
    const chunk = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (chunk === "tRNS") return true;
    if (chunk === "IDAT" || chunk === "IEND") return false;
    p += 12 + view.getUint32(p);
  }
  return false;
}

/** Whether a JPEG's frame header declares 4 components (CMYK/YCCK), which Deno refuses too. */
function isCmykJpeg(bytes: Uint8Array): boolean {
  let p = 2;
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1];
    // SOF0..SOF15 but DHT (c4), JPG (c8), DAC (cc): byte 9 of the segment is the component count.
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return bytes[p + 9] === 4;
    }
    if (marker === 0xda || marker === 0xd9) return false;
    p += 2 + ((bytes[p + 2] << 8) | bytes[p + 3]);
  }
  return false;
}

/** A bitmap's pixels as gray levels, read back from a 2-D canvas {@link STRIP_ROWS} rows at a time. */
function grayByCanvas(bitmap: ImageBitmap, toGray: ToGray): Uint8Array {
  const { width, height } = bitmap;
  const rows = Math.min(STRIP_ROWS, height);
  const ctx = new OffscreenCanvas(width, rows).getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new ImageError("this browser has no 2-D OffscreenCanvas to read images");
  const gray = new Uint8Array(width * height);
  for (let y0 = 0; y0 < height; y0 += rows) {
    const h = Math.min(rows, height - y0);
    ctx.clearRect(0, 0, width, rows);
    ctx.drawImage(bitmap, 0, y0, width, h, 0, 0, width, h);
    gray.set(toGray(ctx.getImageData(0, 0, width, h).data, width * h), y0 * width);
  }
  return gray;
}

let context: WebGL2RenderingContext | null | undefined;

/** The shared WebGL2 context of {@link grayByWebgl2}, or null where there is none. */
function webgl2(): WebGL2RenderingContext | null {
  if (context === undefined) {
    try {
      context = new OffscreenCanvas(1, 1).getContext("webgl2");
    } catch {
      context = null;
    }
  }
  return context;
}

/**
 * A bitmap's pixels as gray levels, uploaded to a WebGL2 texture without
 * premultiplication tile by tile (`UNPACK_SKIP_*` select a tile of the
 * bitmap) and read back exactly.
 */
function grayByWebgl2(gl: WebGL2RenderingContext, bitmap: ImageBitmap, toGray: ToGray) {
  const { width, height } = bitmap;
  const tileW = Math.min(width, gl.getParameter(gl.MAX_TEXTURE_SIZE) as number);
  const tileH = Math.min(height, STRIP_ROWS);
  const texture = gl.createTexture();
  const framebuffer = gl.createFramebuffer();
  const rgba = new Uint8Array(tileW * tileH * 4);
  const gray = new Uint8Array(width * height);
  try {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    for (let y0 = 0; y0 < height; y0 += tileH) {
      for (let x0 = 0; x0 < width; x0 += tileW) {
        const w = Math.min(tileW, width - x0), h = Math.min(tileH, height - y0);
        gl.pixelStorei(gl.UNPACK_SKIP_PIXELS, x0);
        gl.pixelStorei(gl.UNPACK_SKIP_ROWS, y0);
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
        gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
        gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
        for (let y = 0; y < h; y++) {
          gray.set(toGray(rgba.subarray(4 * y * w, 4 * (y + 1) * w), w), (y0 + y) * width + x0);
        }
      }
    }
    const error = gl.getError();
    if (error !== gl.NO_ERROR) throw new ImageError(`WebGL2 read-back failed (error ${error})`);
  } finally {
    gl.pixelStorei(gl.UNPACK_SKIP_PIXELS, 0);
    gl.pixelStorei(gl.UNPACK_SKIP_ROWS, 0);
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
  }
  return gray;
}
