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
  type RgbImage,
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
  return decodeImage(await readImageFile(path), path);
}

/** The bytes of an image file; an {@link ImageError} naming it when it cannot be read. */
export async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    if ((await Deno.stat(path)).isDirectory) throw new ImageError(`${path}: is a directory`);
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    if (e instanceof Deno.errors.NotFound) throw new ImageError(`${path}: no such file`);
    throw new ImageError(`${path}: cannot read (${(e as Error).message})`);
  }
}

/**
 * Decodes PNG or JPEG bytes to grayscale like `cv2.IMREAD_GRAYSCALE` (see the
 * module notes); `name` labels the image in error messages.
 */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<GrayImage> {
  const { type, width, height, levels, gray } = await decodeLevels(bytes, name);
  const pixels = gray
    ? levels
    : type === "PNG"
    ? pngGray(levels, width * height)
    : jpegLuma(levels, width * height);
  const oriented = orient(pixels, width, height, type === "JPEG" ? orientation(bytes) : 1);
  return { ...oriented, data: grayLevels(oriented.pixels), name };
}

/** Reads and decodes an image file (PNG or JPEG) in colour, EXIF orientation applied. */
export async function loadImageRgb(path: string): Promise<RgbImage> {
  return decodeImageRgb(await readImageFile(path), path);
}

/**
 * Decodes PNG or JPEG bytes in colour (8-bit RGB; a gray image's level in
 * all three channels; alpha dropped), EXIF orientation applied as for
 * {@link decodeImage}.
 */
export async function decodeImageRgb(bytes: Uint8Array, name: string): Promise<RgbImage> {
  const { type, width, height, levels, gray } = await decodeLevels(bytes, name);
  const n = width * height, rgb = new Uint8Array(3 * n);
  const stride = gray ? 1 : type === "PNG" ? 4 : 3;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = levels[stride * i + (gray ? 0 : c)];
  }
  const oriented = orient(rgb, width, height, type === "JPEG" ? orientation(bytes) : 1, 3);
  return { width: oriented.width, height: oriented.height, data: oriented.pixels, name };
}

/**
 * The decoder's levels of PNG or JPEG bytes: PNG RGBA, JPEG RGB, or one gray
 * level per pixel (`gray`, a grayscale JPEG), before orientation.
 */
async function decodeLevels(
  bytes: Uint8Array,
  name: string,
): Promise<
  { type: "PNG" | "JPEG"; width: number; height: number; levels: Uint8Array; gray: boolean }
> {
  const type = imageFormat(bytes, name);
  let decoded: {
    type: "PNG" | "JPEG";
    width: number;
    height: number;
    levels: Uint8Array;
    gray: boolean;
  };
  try {
    if (type === "PNG") {
      const png = (await pngCodec.init()).decode(bytes);
      decoded = {
        type,
        width: png.width,
        height: png.height,
        levels: png.framebuffer,
        gray: false,
      };
    } else {
      const jpeg = (await jpegCodec.init()).decode(bytes);
      if (jpeg.format === 2) throw new ImageError(`${name}: CMYK JPEG is not supported`);
      decoded = {
        type,
        width: jpeg.width,
        height: jpeg.height,
        levels: jpeg.buffer,
        gray: jpeg.format === 0,
      };
    }
  } catch (e) {
    if (e instanceof ImageError) throw e;
    // The decoders' messages ("unreachable", "failed to decode (-8)") say nothing more.
    throw new ImageError(`${name}: corrupt or truncated ${type} data`);
  }
  if (decoded.width === 0 || decoded.height === 0) {
    throw new ImageError(`${name}: image has zero size`);
  }
  return decoded;
}
