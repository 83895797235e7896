/**
 * The affine Lucas–Kanade alignment of refinement (src/pipeline/lucas_kanade.ts) against
 * hand-made truth: image 1 is image 0 under a known affine warp, with a gain and a bias.
 */
import assert from "node:assert/strict";
import { alignAffine } from "../../src/pipeline/lucas_kanade.ts";
import type { GrayImage } from "../../src/io/image.ts";

/** A smooth texture: a sum of plane waves of periods 9–23 px in several directions. */
function texture(x: number, y: number): number {
  const waves = [[9, 0.3], [13, 1.4], [17, 2.2], [23, 0.9], [11, 2.8]];
  let v = 0;
  for (const [period, angle] of waves) {
    v += Math.sin((2 * Math.PI / period) * (x * Math.cos(angle) + y * Math.sin(angle)) + angle);
  }
  return 0.5 + v / 12;
}

/** An image whose pixel (x, y) is `value(x, y)`. */
function render(width: number, height: number, value: (x: number, y: number) => number): GrayImage {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data[y * width + x] = value(x, y);
  }
  return { width, height, data, name: "synthetic" };
}

Deno.test("alignAffine recovers where a patch lies under a known affine warp, gain and bias", () => {
  // Image 1 at p shows image 0 at A⁻¹(p − t): image 0's point u is at A u + t in image 1.
  const A = [1.08, 0.12, -0.07, 0.95], t = [3.3, -2.6];
  const det = A[0] * A[3] - A[1] * A[2];
  const img0 = render(96, 96, texture);
  const img1 = render(96, 96, (x, y) => {
    const [px, py] = [x - t[0], y - t[1]];
    const u = (A[3] * px - A[1] * py) / det, v = (-A[2] * px + A[0] * py) / det;
    return 0.8 * texture(u, v) + 0.1;
  });
  for (const [ax, ay] of [[40, 44], [52, 37], [47, 55]]) {
    const truth = [A[0] * ax + A[1] * ay + t[0], A[2] * ax + A[3] * ay + t[1]];
    // Start 1.2 px off, as after a whole-pixel NCC search on a sheared patch.
    const a = alignAffine(img0, ax, ay, img1, truth[0] + 0.7, truth[1] - 1.0, 8, 20);
    assert.ok(a, `(${ax}, ${ay}) diverged`);
    // The only error left is bilinear interpolation of image 1 between its samples: for waves of
    // period ≥ 9 px it is under 3% of their amplitude, and it averages out over the 17×17 patch;
    // measured 0.003–0.015 px.
    const error = Math.hypot(a.x - truth[0], a.y - truth[1]);
    assert.ok(error < 0.03, `(${ax}, ${ay}): ${error} px from the truth`);
    assert.ok(a.zncc > 0.99, `zncc ${a.zncc}`);
  }
});

Deno.test("alignAffine gives null when the patch leaves an image or is flat", () => {
  const img = render(64, 64, texture);
  const flat = render(64, 64, () => 0.5);
  assert.equal(alignAffine(img, 5, 30, img, 5, 30, 8, 20), null); // patch beyond the left edge
  assert.equal(alignAffine(img, 30, 30, img, 60, 30, 8, 20), null); // beyond image 1's edge
  assert.equal(alignAffine(flat, 30, 30, img, 30, 30, 8, 20), null); // nothing to align
  assert.equal(alignAffine(img, 30, 30, flat, 30, 30, 8, 20), null);
});
