import assert from "node:assert/strict";
import { syntheticMatches } from "../../testing/synthetic_matches.ts";
import { mul3, normalizeSign, transpose3 } from "../../src/geometry/linalg.ts";
import { rotationError } from "../../src/geometry/metric.ts";
import {
  decomposeEssential,
  essentialFromFundamental,
  recoverPose,
} from "../../src/geometry/pose.ts";

// Noise-free synthetic scene (σ = 0): F is exact to float64 round-off, so every comparison below
// is against ~1e-12 errors; tolerances of 1e-9 leave a thousandfold margin.
const scene = syntheticMatches(200, 0, 0, 3);

/** Angle between two lines (sign-free), as atan2(|a × b|, |a · b|): well conditioned near 0. */
function angle(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const c = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  return Math.atan2(
    Math.hypot(c[0], c[1], c[2]),
    Math.abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2]),
  );
}

Deno.test("pose: E = K1ᵀ F K0 is [t]ₓ R up to scale", () => {
  const E = essentialFromFundamental(scene.F, scene.K, scene.K);
  const { t, R } = scene;
  const tx = Float64Array.of(0, -t[2], t[1], t[2], 0, -t[0], -t[1], t[0], 0);
  const a = normalizeSign(E), b = normalizeSign(mul3(tx, R));
  for (let i = 0; i < 9; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-9);
});

Deno.test("pose: the IMC decomposition contains the true rotation and translation direction", () => {
  const { R1, R2, t } = decomposeEssential(essentialFromFundamental(scene.F, scene.K, scene.K));
  for (const R of [R1, R2]) {
    const RRt = mul3(R, transpose3(R));
    for (let i = 0; i < 9; i++) assert.ok(Math.abs(RRt[i] - (i % 4 === 0 ? 1 : 0)) < 1e-9);
  }
  assert.ok(Math.min(rotationError(R1, scene.R), rotationError(R2, scene.R)) < 1e-5);
  assert.ok(angle(t, scene.t) < 1e-9);
});

Deno.test("pose: recoverPose picks the candidate with the points in front of both cameras", () => {
  const E = essentialFromFundamental(scene.F, scene.K, scene.K);
  const pose = recoverPose(E, scene.points0, scene.points1, scene.K, scene.K);
  assert.ok(rotationError(pose.R, scene.R) < 1e-5);
  const tn = Math.hypot(...scene.t);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(pose.t[i] - scene.t[i] / tn) < 1e-9); // sign too
  assert.equal(pose.inFront, 200);
  // With a mask only the selected matches count.
  const mask = Uint8Array.from({ length: 200 }, (_, i) => i % 2);
  assert.equal(recoverPose(E, scene.points0, scene.points1, scene.K, scene.K, mask).inFront, 100);
});
