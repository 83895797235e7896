import assert from "node:assert/strict";
import { drawCameraTopView, renderCameraTopView } from "../../src/io/camera_plot.ts";
import type { CameraPose } from "../../src/geometry/sfm_metric.ts";
import { syntheticScene } from "../support/synthetic_scene.ts";

/** Centre of mass of the pixels of one colour, or null. */
function blob(img: { data: Uint8Array; width: number }, rgb: number[]): [number, number] | null {
  let sx = 0, sy = 0, n = 0;
  for (let o = 0; o < img.data.length; o += 4) {
    if (img.data[o] === rgb[0] && img.data[o + 1] === rgb[1] && img.data[o + 2] === rgb[2]) {
      const k = o / 4;
      sx += k % img.width;
      sy += Math.floor(k / img.width);
      n++;
    }
  }
  return n ? [sx / n, sy / n] : null;
}

/** Centres of the 8-connected groups of pixels of one colour. */
function components(img: { data: Uint8Array; width: number; height: number }, rgb: number[]) {
  const is = (k: number) =>
    img.data[4 * k] === rgb[0] && img.data[4 * k + 1] === rgb[1] && img.data[4 * k + 2] === rgb[2];
  const seen = new Uint8Array(img.width * img.height), out: [number, number][] = [];
  for (let k0 = 0; k0 < seen.length; k0++) {
    if (seen[k0] || !is(k0)) continue;
    const stack = [k0];
    seen[k0] = 1;
    let sx = 0, sy = 0, n = 0;
    while (stack.length) {
      const k = stack.pop()!, x = k % img.width, y = Math.floor(k / img.width);
      sx += x, sy += y, n++;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx, yy = y + dy, kk = yy * img.width + xx;
          if (xx < 0 || yy < 0 || xx >= img.width || yy >= img.height || seen[kk] || !is(kk)) {
            continue;
          }
          seen[kk] = 1;
          stack.push(kk);
        }
      }
    }
    out.push([sx / n, sy / n]);
  }
  return out;
}

Deno.test("camera plot: a top view with cameras at the bottom, left to right, and the ground truth", () => {
  const s = syntheticScene(5, 200);
  const cams = new Map<string, CameraPose>(s.names.map((n, i) => [n, s.poses[i]]));
  const img = renderCameraTopView(cams, s.points.flat(), { size: 300 });
  assert.ok(
    Math.max(img.width, img.height) <= 300 && img.data.length === 4 * img.width * img.height,
  );
  const grey = blob(img, [150, 150, 150])!, blue = blob(img, [30, 90, 220])!;
  assert.ok(blue[1] > grey[1], "cameras below the points");
  // upright cameras looking along +z: +x is to the right, a camera further back is lower
  const I = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  const at = (x: number, z: number): CameraPose => ({ R: I, t: [-x, 0, -z] });
  const three = renderCameraTopView(
    new Map([["a", at(-2, 0)], ["b", at(2, 0)], ["c", at(0, -1)]]),
    [0, 0, 5, -1, 0, 6, 1, 0, 6],
  );
  const [a, c, b] = components(three, [30, 90, 220]).sort((u, v) => u[0] - v[0]);
  assert.ok(a && b && c, "three cameras drawn apart");
  assert.ok(Math.abs(a[1] - b[1]) < 1 && c[1] > a[1] + 10, `${a} ${b} ${c}`);
  assert.ok(Math.abs(c[0] - (a[0] + b[0]) / 2) < 1);
  // with ground truth: black rings, no red lines for a perfect reconstruction
  const withGt = renderCameraTopView(cams, s.points.flat(), { gt: cams, size: 300 });
  assert.ok(blob(withGt, [0, 0, 0]) !== null);
  const png = drawCameraTopView(cams, s.points.flat(), { gt: cams });
  assert.deepEqual(Array.from(png.subarray(1, 4)), [80, 78, 71]); // "PNG"
});
