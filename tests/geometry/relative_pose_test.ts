import assert from "node:assert/strict";
import { Gpu } from "../../src/gpu/mod.ts";
import { rotationAngle } from "../../src/geometry/linalg.ts";
import { rotationError } from "../../src/geometry/metric.ts";
import { estimateRelativePose, intrinsics } from "../../src/geometry/relative_pose.ts";
import { loadSiftPairs } from "../../testing/ransac_data.ts";
import { fixture } from "../support/util.ts";

/** Angle between two 3-vectors, degrees (not folded: the sign of t is part of the pose). */
function angle(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const n = Math.hypot(a[0], a[1], a[2]) * Math.hypot(b[0], b[1], b[2]);
  return (Math.acos(Math.max(-1, Math.min(1, dot / n))) * 180) / Math.PI;
}

Deno.test("relative pose: F → E → the cheirality-checked R, t of the SIFT fixtures match the ground truth", async () => {
  const gpu = await Gpu.create();
  try {
    const pairs = (await loadSiftPairs(fixture("relpose"))).filter((p) => p.points0.length > 0);
    assert.equal(pairs.length, 4);
    for (const p of pairs) {
      const r = await estimateRelativePose(gpu, p.points0, p.points1, p.K0, p.K1, {
        threshold: 0.25,
      });
      assert.ok(r.R && r.t && r.E, `${p.id}: ${r.message}`);
      // OpenCV's USAC_MAGSAC F is within 0.16° of these poses (BASELINES.md): our F through
      // E and the cheirality check, within 0.5° in rotation; the direction of t, whose
      // sign the cheirality check fixes, within 3° (baselines of 1.4–15 m at ~5–20 m depth).
      assert.ok(
        rotationError(r.R, p.R) < 0.5,
        `${p.id}: rotation error ${rotationError(r.R, p.R)}°`,
      );
      assert.ok(angle(r.t, p.T) < 3, `${p.id}: translation direction ${angle(r.t, p.T)}°`);
      assert.ok(Math.abs(Math.hypot(...r.t) - 1) < 1e-12);
      assert.ok(Math.abs(r.rotationDegrees! - rotationAngle(p.R)) < 0.5);
      // Nearly every inlier lies in front of both cameras under the chosen pose.
      assert.ok(r.inFront >= 0.95 * r.inlierCount, `${r.inFront} of ${r.inlierCount}`);
    }
  } finally {
    gpu.destroy();
  }
});

Deno.test("relative pose: too few matches give no pose and the reason", async () => {
  const gpu = await Gpu.create();
  try {
    const K = intrinsics(1000, 1000, 500, 400);
    const r = await estimateRelativePose(gpu, [0, 0, 1, 1], [0, 0, 1, 1], K, K);
    assert.deepEqual([r.R, r.t, r.E, r.stop, r.inFront], [null, null, null, "too-few-matches", 0]);
    assert.match(r.message!, /2 matches; at least 8/);
  } finally {
    gpu.destroy();
  }
});
