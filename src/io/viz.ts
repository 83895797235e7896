/**
 * Match visualisation as PNG: draw.ts's bitmap, encoded.
 *
 * @module
 */

import { pngEncoder } from "./codecs.ts";
import { type DrawMatchesOptions, matchesBitmap } from "./draw.ts";
import type { GrayImage } from "./image.ts";

// imagescript's pure-JS PNG encoder (its main entry would need --allow-ffi).
const png = pngEncoder as {
  encode(
    data: Uint8Array,
    options: { width: number; height: number; channels: number; level: number },
  ): Uint8Array;
};

/** PNG bytes of an RGBA bitmap (`level`: zlib compression 0–9). */
export function encodePng(rgba: Uint8Array, width: number, height: number, level = 6): Uint8Array {
  return png.encode(rgba, { width, height, channels: 4, level });
}

/**
 * {@link matchesBitmap} as PNG bytes (no metadata, so the same input gives
 * the same bytes): both images side by side, one line per match.
 */
export function drawMatches(
  img0: GrayImage,
  img1: GrayImage,
  kpts0: ArrayLike<number>,
  kpts1: ArrayLike<number>,
  options: DrawMatchesOptions = {},
): Uint8Array {
  const { width, height, rgba } = matchesBitmap(img0, img1, kpts0, kpts1, options);
  return encodePng(rgba, width, height, 1);
}
