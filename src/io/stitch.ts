/**
 * Stitching two photos related by a homography: image 1 warped into image 0's
 * frame (bilinear sampling through H, `x1 ~ H x0`) on a canvas grown to hold
 * both, the overlap blended with weights that fall linearly to each image's
 * border (feathering), so that seams fade.
 * @module
 */
import { adjugate3 } from "../geometry/linalg.ts";
import type { RgbImage } from "./image.ts";

/** A stitched canvas: RGBA (alpha 0 where neither image reaches), and where image 0 lies on it. */
export interface Stitched {
  /** Canvas width, pixels. */
  width: number;
  /** Canvas height, pixels. */
  height: number;
  /** `4 · width · height` levels, R G B A per pixel. */
  rgba: Uint8Array;
  /** Canvas position of image 0's pixel (0, 0). */
  origin: [number, number];
}

/** Options of {@link stitch}. */
export interface StitchOptions {
  /** Largest canvas side, pixels (default 8192): a homography that needs more is refused. */
  maxSide?: number;
}

function project(H: ArrayLike<number>, x: number, y: number): [number, number] | null {
  const w = H[6] * x + H[7] * y + H[8];
  if (!(w > 0)) return null; // behind the camera: no finite image on the canvas
  return [(H[0] * x + H[1] * y + H[2]) / w, (H[3] * x + H[4] * y + H[5]) / w];
}

/** Weight of a pixel at (x, y) of a w × h image: its distance to the nearest border, +1. */
function feather(x: number, y: number, w: number, h: number): number {
  return Math.max(0, Math.min(x + 1, y + 1, w - x, h - y));
}

/**
 * Image 1 warped into image 0's frame by `H` (`x1 ~ H x0`, pixels with (0, 0)
 * at the centre of the top-left pixel) and blended with image 0 on a canvas
 * that holds both. Throws a RangeError when H sends image 1's corners behind
 * image 0's camera or onto a canvas larger than `maxSide` (a homography of
 * two views that do not overlap as a plane or a rotation would).
 */
export function stitch(
  img0: RgbImage,
  img1: RgbImage,
  H: ArrayLike<number>,
  options: StitchOptions = {},
): Stitched {
  const maxSide = options.maxSide ?? 8192;
  // H and H⁻¹ (the adjugate, x0 ~ H⁻¹ x1) up to scale: their signs chosen so that each maps its
  // image's centre in front of the other camera (w > 0).
  const inFront = (M: ArrayLike<number>, img: RgbImage) => {
    const w = M[6] * (img.width - 1) / 2 + M[7] * (img.height - 1) / 2 + M[8];
    return Float64Array.from(M, (v) => (w < 0 ? -v : v));
  };
  const Hf = inFront(H, img0), Hi = inFront(adjugate3(H), img1);
  const corners: [number, number][] = [[0, 0], [img0.width - 1, 0], [0, img0.height - 1], [
    img0.width - 1,
    img0.height - 1,
  ]];
  for (
    const [x, y] of [[0, 0], [img1.width - 1, 0], [0, img1.height - 1], [
      img1.width - 1,
      img1.height - 1,
    ]]
  ) {
    const p = project(Hi, x, y);
    if (!p) {
      throw new RangeError("the homography sends a corner of image 1 behind image 0's camera");
    }
    corners.push(p);
  }
  const x0 = Math.floor(Math.min(...corners.map((c) => c[0])));
  const y0 = Math.floor(Math.min(...corners.map((c) => c[1])));
  const width = Math.ceil(Math.max(...corners.map((c) => c[0]))) - x0 + 1;
  const height = Math.ceil(Math.max(...corners.map((c) => c[1]))) - y0 + 1;
  if (!(width <= maxSide && height <= maxSide)) {
    throw new RangeError(
      `the stitched canvas would be ${width}×${height} pixels (more than ${maxSide}): ` +
        "the homography does not map these photos onto one plane",
    );
  }
  const rgba = new Uint8Array(4 * width * height);
  const { width: w0, height: h0, data: d0 } = img0, { width: w1, height: h1, data: d1 } = img1;
  for (let cy = 0; cy < height; cy++) {
    for (let cx = 0; cx < width; cx++) {
      const x = cx + x0, y = cy + y0; // image 0's pixel coordinates
      let r = 0, g = 0, b = 0, wsum = 0;
      if (x >= 0 && y >= 0 && x < w0 && y < h0) {
        const wt = feather(x, y, w0, h0), k = 3 * (y * w0 + x);
        r += wt * d0[k];
        g += wt * d0[k + 1];
        b += wt * d0[k + 2];
        wsum += wt;
      }
      const q = project(Hf, x, y);
      if (q && q[0] >= 0 && q[1] >= 0 && q[0] <= w1 - 1 && q[1] <= h1 - 1) {
        // Bilinear sample of image 1 at q.
        const qx = Math.min(Math.floor(q[0]), w1 - 2), qy = Math.min(Math.floor(q[1]), h1 - 2);
        const fx = q[0] - qx, fy = q[1] - qy, wt = feather(q[0], q[1], w1, h1);
        const k = 3 * (qy * w1 + qx), down = 3 * w1;
        const at = (c: number) =>
          (1 - fy) * ((1 - fx) * d1[k + c] + fx * d1[k + 3 + c]) +
          fy * ((1 - fx) * d1[k + down + c] + fx * d1[k + down + 3 + c]);
        r += wt * at(0);
        g += wt * at(1);
        b += wt * at(2);
        wsum += wt;
      }
      if (wsum > 0) {
        const o = 4 * (cy * width + cx);
        rgba[o] = Math.round(r / wsum);
        rgba[o + 1] = Math.round(g / wsum);
        rgba[o + 2] = Math.round(b / wsum);
        rgba[o + 3] = 255;
      }
    }
  }
  return { width, height, rgba, origin: [-x0, -y0] };
}
