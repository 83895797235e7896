import assert from "node:assert/strict";
import { Gpu } from "../../src/gpu/mod.ts";
import {
  fourPoint,
  goodHomographySample,
  weightedHomography,
} from "../../src/geometry/homography_solvers.ts";
import { normalizeMatches } from "../../src/geometry/matches.ts";
import { estimateHomographyCpu } from "../../src/geometry/ransac_cpu.ts";
import { estimateHomography } from "../../src/geometry/ransac_gpu.ts";
import { transferError } from "../../src/geometry/scores.ts";
import { TUNINGS } from "../support/util.ts";
import { applyHomography, H_TRUE, planeMatches } from "../../testing/synthetic_matches.ts";

/** Largest distance, in image 1, between where two homographies send image 0's corners. */
function cornerError(H: ArrayLike<number>, G: ArrayLike<number>): number {
  return Math.max(
    ...[[0, 0], [1000, 0], [0, 800], [1000, 800]].map(([x, y]) => {
      const [a, b] = applyHomography(H, x, y), [c, d] = applyHomography(G, x, y);
      return Math.hypot(a - c, b - d);
    }),
  );
}

Deno.test("homography: the 4-point DLT recovers H from exact matches; degenerate samples give none", () => {
  const p0 = [100, 100, 900, 120, 880, 700, 120, 680];
  const p1 = p0.flatMap((_, k) => k % 2 ? [] : applyHomography(H_TRUE, p0[k], p0[k + 1]));
  const H = fourPoint(p0, p1);
  // Float64 DLT of exact data: the corners agree to round-off (1e-12 of ~1000 px, margin 1e-6).
  assert.ok(H && cornerError(H, H_TRUE) < 1e-6, `corner error ${H && cornerError(H, H_TRUE)}`);
  // Three points on a line, and a mirrored quadrilateral, fix no real homography.
  const line = [100, 100, 500, 300, 900, 500, 120, 680];
  assert.equal(fourPoint(line, p1), null);
  const mirrored = p1.map((v, k) => k % 2 ? v : 1000 - v);
  assert.equal(fourPoint(p0, mirrored), null);
  const { data } = normalizeMatches(line, p1);
  assert.equal(goodHomographySample(data, [0, 1, 2, 3]), false);
});

Deno.test("homography: the weighted DLT of many exact matches is H; zero weights drop matches", () => {
  const { p0, p1 } = planeMatches(50, 0, 0, 3);
  const { data, norm0, norm1 } = normalizeMatches(p0, p1);
  const w = new Float64Array(50).fill(1);
  const Hn = weightedHomography(data, w)!;
  // Back to pixels (independently of the module's denormalisation): exact data, ~0 px².
  const e = transferError(denormalized(Hn, norm0, norm1), p0, p1);
  assert.ok(Math.max(...e) < 1e-12, `max transfer error ${Math.max(...e)} px²`);
  assert.equal(weightedHomography(data, new Float64Array(50).fill(0).fill(1, 0, 3)), null);
});

/** T1⁻¹ Ĥ T0, written out here to check the solver independently of the module's helper. */
function denormalized(
  Hn: ArrayLike<number>,
  n0: { cx: number; cy: number; scale: number },
  n1: { cx: number; cy: number; scale: number },
): Float64Array {
  const T0 = [n0.scale, 0, -n0.scale * n0.cx, 0, n0.scale, -n0.scale * n0.cy, 0, 0, 1];
  const T1i = [1 / n1.scale, 0, n1.cx, 0, 1 / n1.scale, n1.cy, 0, 0, 1];
  const mul = (a: ArrayLike<number>, b: ArrayLike<number>) =>
    Float64Array.from({ length: 9 }, (_, k) => {
      const r = Math.floor(k / 3), c = k % 3;
      return a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
    });
  return mul(T1i, mul(Hn, T0));
}

Deno.test("homography: the float64 estimator recovers H and its inliers with 10–70% outliers", () => {
  for (const outliers of [0.1, 0.4, 0.7]) {
    const { p0, p1, inlier } = planeMatches(600, outliers, 0.3, 7);
    const r = estimateHomographyCpu(p0, p1, { threshold: 1 });
    assert.ok(r.H, r.message);
    // 0.3 px noise on ≥ 180 inliers spread over the image: corners within well under a pixel.
    assert.ok(
      cornerError(r.H!, H_TRUE) < 0.5,
      `${outliers}: corner error ${cornerError(r.H!, H_TRUE)}`,
    );
    // The mask is that of the true H up to borderline matches: those within the noise of the
    // estimate (≲ 0.1 px) of the 1 px threshold, a handful at most; no true outlier taken.
    const truth = transferError(H_TRUE, p0, p1);
    let differ = 0, outliersTaken = 0;
    for (let i = 0; i < 600; i++) {
      if (r.inliers[i] !== (truth[i] < 1 ? 1 : 0)) differ++;
      if (r.inliers[i] && !inlier[i]) outliersTaken++;
    }
    assert.ok(differ <= 3, `${outliers}: ${differ} matches classified unlike the true H`);
    assert.equal(outliersTaken, 0, `${outliers}: outliers taken as inliers`);
  }
});

Deno.test("homography: too few, non-finite or collinear matches give no H and a reason", () => {
  const few = estimateHomographyCpu([0, 0, 1, 0, 0, 1], [0, 0, 1, 0, 0, 1]);
  assert.deepEqual([few.H, few.stop], [null, "too-few-matches"]);
  const line = Array.from({ length: 20 }, (_, k) => k % 2 ? 3 * k : k);
  assert.equal(estimateHomographyCpu(line, line).stop, "degenerate-points");
  const nan = [0, 0, 1, 0, 0, 1, NaN, 1, 2, 2];
  assert.equal(estimateHomographyCpu(nan, nan).stop, "non-finite-coordinates");
  assert.throws(() => estimateHomographyCpu([0, 0, 1], [0, 0, 1]), RangeError);
});

for (const tuning of TUNINGS) {
  Deno.test(`homography: the GPU estimator finds what the float64 one finds (${tuning} tuning)`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      for (const outliers of [0.1, 0.6]) {
        const { p0, p1 } = planeMatches(800, outliers, 0.3, 11);
        const o = { threshold: 1, seed: 3 };
        const [g, c] = [await estimateHomography(gpu, p0, p1, o), estimateHomographyCpu(p0, p1, o)];
        assert.ok(g.H && c.H, `${g.message} / ${c.message}`);
        assert.ok(cornerError(g.H!, H_TRUE) < 0.5, `corner error ${cornerError(g.H!, H_TRUE)}`);
        // Same samples; f32 scores may pick another of near-equal candidates, and the
        // float64 local optimisation then converges to the same optimum: corners within
        // 0.05 px, inlier counts within 1%.
        assert.ok(cornerError(g.H!, c.H!) < 0.05, `GPU vs CPU: ${cornerError(g.H!, c.H!)} px`);
        assert.ok(
          Math.abs(g.inlierCount - c.inlierCount) <= 8,
          `${g.inlierCount} vs ${c.inlierCount}`,
        );
      }
    } finally {
      gpu.destroy();
    }
  });
}
