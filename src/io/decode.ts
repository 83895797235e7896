/**
 * Image files to grayscale, exactly as LoFTR's reference preprocessing reads
 * them with OpenCV (`cv2.imread(path, cv2.IMREAD_GRAYSCALE)`), with the
 * imagescript decoders (see image.ts for the conversion to gray and the EXIF
 * orientation). Deno only: a page decodes with the browser's own decoders
 * and the same conversion.
 *
 * @module
 */
import { jpegDecoder, pngDecoder } from "./codecs.ts";
import {
  type GrayImage,
  grayLevels,
  ImageError,
  imageFormat,
  jpegLuma,
  orient,
  orientation,
  pngGray,
} from "./image.ts";

// The untyped imagescript decoders (codecs.ts), with the part of their API we use.
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

/**
 * Decodes PNG or JPEG bytes to grayscale like `cv2.IMREAD_GRAYSCALE` (see the
 * module notes); `name` labels the image in error messages.
 */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<GrayImage> {
  const type = imageFormat(bytes, name);
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
  const oriented = orient(gray, width, height, type === "JPEG" ? orientation(bytes) : 1);
  return { ...oriented, data: grayLevels(oriented.pixels), name };
}
