import assert from "node:assert/strict";
import { loadSiftPairs } from "../../testing/ransac_data.ts";
import {
  maa,
  MAA_TRANSLATION_THRESHOLDS,
  pairAccuracy,
  poseErrors,
  rotationError,
  sceneOf,
  translationError,
} from "../../src/geometry/metric.ts";
import { fixture, needsShared, sharedDir } from "../support/util.ts";
import { axisAngleRotation } from "../../src/geometry/linalg.ts";

/** Rotation by `deg` degrees about the unit axis (x, y, z), row-major (Rodrigues). */
function rotation(deg: number, x: number, y: number, z: number): Float64Array {
  return axisAngleRotation(deg, [x, y, z]);
}

const I = rotation(0, 0, 0, 1);

Deno.test("metric: rotation error is the angle between rotations, in degrees", () => {
  // A 5° turn about z against the identity, and composition about another axis: angle of R_est R_gtᵀ.
  // The 1e-15 floor of the scorer's loss adds ≤ 4e-6°; float64 acos near 1 loses ~1e-6°.
  assert.ok(Math.abs(rotationError(rotation(5, 0, 0, 1), I) - 5) < 1e-5);
  const axis = [1 / Math.sqrt(3), 1 / Math.sqrt(3), 1 / Math.sqrt(3)] as const;
  assert.ok(Math.abs(rotationError(rotation(37, ...axis), rotation(-3, ...axis)) - 40) < 1e-5);
  assert.ok(rotationError(I, I) < 1e-5);
  // Beyond 90° the quaternion form still gives the true angle (it squares ⟨q, q_gt⟩).
  assert.ok(Math.abs(rotationError(rotation(150, 0, 1, 0), I) - 150) < 1e-5);
});

Deno.test("metric: translation error scales t to the true baseline and ignores its sign", () => {
  const T = [3, 0, 4]; // |T| = 5 m
  // Same direction, any length and either sign: no error.
  assert.ok(translationError([0.6, 0, 0.8], T) < 1e-12);
  assert.ok(translationError([-6, 0, -8], T) < 1e-12);
  // Direction off by θ: chord 2|T| sin(θ/2). Here θ = 90° → 5√2 m; scale 2 doubles it.
  assert.ok(Math.abs(translationError([4, 0, -3], T) - 5 * Math.SQRT2) < 1e-12);
  assert.ok(Math.abs(translationError([4, 0, -3], T, 2) - 10 * Math.SQRT2) < 1e-12);
});

Deno.test("metric: thresholds are strict and the 10 levels are those of the scorer", () => {
  // numpy.geomspace(0.2, 5, 10), to its printed precision.
  const want = [
    0.2,
    0.28599383,
    0.40896235,
    0.58480355,
    0.83625103,
    1.19581317,
    1.70997595,
    2.44521285,
    3.49657893,
    5.0,
  ]; // deno-fmt-ignore
  MAA_TRANSLATION_THRESHOLDS.forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-8));
  assert.equal(pairAccuracy({ errQ: 0, errT: 0 }), 1);
  // errQ = 1° is not strictly below 1°: level 1 fails, levels 2–10 pass.
  assert.equal(pairAccuracy({ errQ: 1, errT: 0 }), 0.9);
  // errT between levels 3 (0.4090) and 4 (0.5848): levels 4–10 pass.
  assert.equal(pairAccuracy({ errQ: 0.5, errT: 0.5 }), 0.7);
  // Both: errQ 6.5° passes levels 7–10, errT 2 m passes levels 8–10 → 3 levels.
  assert.equal(pairAccuracy({ errQ: 6.5, errT: 2 }), 0.3);
  assert.equal(pairAccuracy({ errQ: Infinity, errT: Infinity }), 0);
});

Deno.test("metric: mAA is the per-scene mean, then the plain mean over scenes", () => {
  const r = maa([
    { scene: "a", errQ: 0, errT: 0 }, // 1
    { scene: "a", errQ: 1, errT: 0 }, // 0.9
    { scene: "b", errQ: 6.5, errT: 2 }, // 0.3
  ]);
  assert.ok(Math.abs(r.perScene.a - 0.95) < 1e-12);
  assert.ok(Math.abs(r.perScene.b - 0.3) < 1e-12);
  assert.ok(Math.abs(r.mean - 0.625) < 1e-12); // not the pair mean 0.733…
  assert.equal(sceneOf("relpose_dev;herzjesu;herzjesu_0001-herzjesu_0004"), "herzjesu");
  assert.throws(() => sceneOf("no-scene"), RangeError);
});

Deno.test("metric: poseErrors of a missing or zero F is a failure at every level", () => {
  const truth = { K0: I, K1: I, R: I, T: [1, 0, 0] };
  for (const F of [null, new Float64Array(9), Float64Array.of(NaN, 0, 0, 0, 0, 0, 0, 0, 0)]) {
    assert.equal(pairAccuracy(poseErrors(F, truth)), 0);
  }
});

async function assertGroundTruthScoresOne(dir: string) {
  const pairs = await loadSiftPairs(dir);
  assert.ok(pairs.length >= 54);
  const rows = pairs.map((p) => ({ scene: p.scene, ...poseErrors(p.F!, p) }));
  // The README's check: GT F → E → pose within 0.01° and 1 mm (F is written to 10 digits).
  for (const r of rows) assert.ok(r.errQ < 0.01 && r.errT < 1e-3, JSON.stringify(r));
  const m = maa(rows);
  assert.equal(m.mean, 1);
  for (const v of Object.values(m.perScene)) assert.equal(v, 1);
}

Deno.test("metric: the ground-truth F of the Strecha fixtures scores mAA 1.0", async () => {
  await assertGroundTruthScoresOne(fixture("relpose"));
});

Deno.test({
  ...needsShared("metric: the ground-truth F of all of relpose_dev scores mAA 1.0"),
  fn: () => assertGroundTruthScoresOne(`${sharedDir}/data/relpose_dev`),
});
