/**
 * The step after matching (src/pipeline/two_view.ts) on the fixture pair against its
 * ground-truth F: both orders put together in the pair's order, each refinement, the threshold
 * policy.
 */
import assert from "node:assert/strict";
import { sampsonError } from "../../src/geometry/scores.ts";
import { decodeImage, readImageFile } from "../../src/io/decode.ts";
import { Matcher } from "../../src/pipeline/matcher.ts";
import {
  estimateFromMatches,
  matchPair,
  PIPELINE_DEFAULTS,
  type PipelineConfig,
  ransacThreshold,
  type Refinement,
} from "../../src/pipeline/two_view.ts";
import { loadSiftPairs } from "../../testing/ransac_data.ts";
import { fixture } from "../support/util.ts";

// Row 0 of the relpose fixture is this pair (fountain_0001 → fountain_0000), with its F.
const truth = (await loadSiftPairs(fixture("relpose")))[0];
const paths = ["images/fountain_0001.jpg", "images/fountain_0000.jpg"].map(fixture);

const config = (refine: Refinement, orders: "one" | "both"): PipelineConfig => ({
  ...PIPELINE_DEFAULTS,
  resize: { longSide: 640 }, // smaller than the default, to keep the test short on lavapipe
  weights: "bundled",
  precision: "f32",
  threshold: null,
  border: null,
  refine,
  orders,
});

/** Median of the Sampson distances (pixels) of keypoints [from, to) to the true F. */
function medianDistance(k0: ArrayLike<number>, k1: ArrayLike<number>, from: number, to: number) {
  const d = sampsonError(
    truth.F!,
    Array.from(k0).slice(2 * from, 2 * to),
    Array.from(k1).slice(2 * from, 2 * to),
  ).map(Math.sqrt).sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)];
}

Deno.test({
  name: "two-view: both orders put together in the pair's order, each refinement near the true F",
  sanitizeResources: false,
  fn: async () => {
    const images = await Promise.all(
      paths.map(async (p) => decodeImage(await readImageFile(p), p)),
    ) as [Awaited<ReturnType<typeof decodeImage>>, Awaited<ReturnType<typeof decodeImage>>];
    const matcher = await Matcher.create();
    try {
      const one = await estimateFromMatches(
        matcher,
        await matchPair(matcher, images, config("ncc-affine", "one")),
        images,
        config("ncc-affine", "one"),
      );
      for (const refine of ["ncc-affine", "ncc", "none"] as const) {
        const c = config(refine, "both");
        const matches = await matchPair(matcher, images, c);
        assert.equal(matches.length, 2);
        // The second order matched image 1 against image 0: its input sizes are swapped.
        assert.deepEqual(matches[1].inputSizes, [...matches[0].inputSizes].reverse());
        const e = await estimateFromMatches(matcher, matches, images, c);
        assert.equal(e.matches, matches[0].count + matches[1].count);
        const n = e.keypoints0.length / 2;
        assert.equal(e.confidence.length, n);
        assert.ok(e.F && e.inlierCount > 0.5 * n, `${refine}: ${e.inlierCount} of ${n} inliers`);
        // Where the first order ends: the one-order run keeps as many (the same matches).
        const split = refine === "ncc-affine" ? one.keypoints0.length / 2 : matches[0].count;
        if (refine === "ncc-affine") {
          assert.deepEqual(
            Array.from(e.keypoints0).slice(0, 2 * split),
            Array.from(one.keypoints0),
          );
        }
        // Both halves lie on the true epipolar geometry once in the pair's order: a reverse
        // order left unswapped would put image 1's points in image 0 (tens of pixels off).
        // Measured medians: 0.064–0.068 px for ncc-affine, 0.143–0.144 for ncc, 3.2–3.3 for the
        // coarse cells' corners (a cell is ~30 px at 640 for these 1200-px photos). Bounds: 0.3 px
        // for refined keypoints (the true F's own K has COLMAP's cx, cy, half a pixel off ours),
        // a quarter of a cell for corners.
        const bound = refine === "none" ? 8 : 0.3;
        for (const [from, to] of [[0, split], [split, n]]) {
          const d = medianDistance(e.keypoints0, e.keypoints1, from, to);
          assert.ok(d < bound, `${refine}, matches ${from}–${to}: median ${d} px from the true F`);
        }
      }
    } finally {
      matcher.destroy();
    }
  },
});

Deno.test("two-view: the automatic RANSAC threshold of each refinement", () => {
  const cells = [[24, 24], [30, 24]] as const;
  assert.equal(ransacThreshold("auto", "ncc-affine", false, cells), 0.35);
  assert.equal(ransacThreshold("auto", "ncc", false, cells), 1);
  assert.equal(ransacThreshold("auto", "none", true, cells), 1); // a fine stage
  assert.equal(ransacThreshold("auto", "none", false, cells), 10); // a third of 30 px
  assert.equal(ransacThreshold(2.5, "ncc-affine", false, cells), 2.5);
});
