import assert from "node:assert/strict";
import {
  alignedErrors,
  applySimilarity,
  cameraCentre,
  type CameraPose,
  median,
  pairPoseErrors,
  poseAuc,
  scoreReconstruction,
  umeyama,
  vectorAngle,
} from "../../src/geometry/sfm_metric.ts";
import { rotationFromQuaternion } from "../../src/geometry/quaternion.ts";
import { axisAngleRotation, mul3, transpose3 } from "../../src/geometry/linalg.ts";
import { parseCamerasCsv, posesFromCamerasCsv } from "../../src/io/cameras_csv.ts";
import { needsShared, seededRandom, sharedDir } from "../support/util.ts";
import { syntheticScene } from "../support/synthetic_scene.ts";
import { rotationAngle } from "../../src/geometry/linalg.ts";

const close = (a: number, b: number, tol: number, what = "") =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

/** The same cameras in a world moved by X' = s Q X + d. */
function transformWorld(
  poses: ReadonlyMap<string, CameraPose>,
  s: number,
  Q: Float64Array,
  d: number[],
): Map<string, CameraPose> {
  const out = new Map<string, CameraPose>();
  for (const [name, { R, t }] of poses) {
    const R2 = mul3(R, transpose3(Q));
    const Rd = [0, 1, 2].map((r) => R2[3 * r] * d[0] + R2[3 * r + 1] * d[1] + R2[3 * r + 2] * d[2]);
    out.set(name, { R: R2, t: [0, 1, 2].map((r) => s * t[r] - Rd[r]) });
  }
  return out;
}

function syntheticTruth(n = 5): Map<string, CameraPose> {
  const s = syntheticScene(n, 10);
  return new Map(s.names.map((name, i) => [name, s.poses[i]]));
}

const Q = axisAngleRotation(37, [0.3, -1, 0.5]);

Deno.test("sfm metric: a similarity-transformed copy scores perfectly", () => {
  const gt = syntheticTruth();
  const est = transformWorld(gt, 0.37, Q, [4, -2, 11]);
  const s = scoreReconstruction(est, gt);
  assert.equal(s.registered, 5);
  assert.equal(s.total, 5);
  assert.equal(s.pairs.length, 10);
  for (const a of s.auc) close(a.value, 1, 1e-9, `AUC@${a.threshold}`);
  for (const p of s.pairs) close(p.error, 0, 1e-6, `${p.image0}-${p.image1}`);
  close(s.aligned!.maxPosition, 0, 1e-9, "position");
  close(s.aligned!.maxRotation, 0, 1e-6, "rotation");
  close(s.aligned!.similarity.s, 1 / 0.37, 1e-9, "scale");
});

Deno.test("sfm metric: one camera turned by 2° gives its 4 pairs an error of exactly 2°", () => {
  const gt = syntheticTruth();
  const est = transformWorld(gt, 2.5, Q, [1, 2, 3]);
  const name = [...est.keys()][2];
  const { R, t } = est.get(name)!;
  const C = cameraCentre({ R, t });
  const R2 = mul3(axisAngleRotation(2, [0, 1, 0]), R); // about its own y axis, centre kept
  const t2 = [0, 1, 2].map((r) =>
    -(R2[3 * r] * C[0] + R2[3 * r + 1] * C[1] + R2[3 * r + 2] * C[2])
  );
  est.set(name, { R: R2, t: t2 });
  const s = scoreReconstruction(est, gt);
  for (const p of s.pairs) {
    const involved = p.image0 === name || p.image1 === name;
    close(p.rotation, involved ? 2 : 0, 1e-9, `${p.image0}-${p.image1} rotation`);
    close(p.error, involved ? 2 : 0, 1e-9, `${p.image0}-${p.image1} error`);
    assert.ok(p.translation <= 2 + 1e-9);
  }
  // errors 0 ×6, 2 ×4, recall k/10 at the k-th: below 1° the recall stays 0.6 (AUC@1 0.6);
  // the trapezoid from (0, 0.6) to (2, 0.7) adds 1.3, then 1.0 per degree:
  // AUC@3 (1.3 + 1)/3, @5 (1.3 + 3)/5, @10 (1.3 + 8)/10 (SuperGlue's pose_auc does the same)
  const want = [0.6, 2.3 / 3, 0.86, 0.93];
  s.auc.forEach((a, k) => close(a.value, want[k], 1e-9, `AUC@${a.threshold}`));
  // the centres did not move: the alignment is exact, and only that camera is off by 2°
  close(s.aligned!.maxPosition, 0, 1e-9, "position");
  close(s.aligned!.maxRotation, 2, 1e-9, "max rotation");
  close(s.aligned!.medianRotation, 0, 1e-9, "median rotation");
});

Deno.test("sfm metric: translation-direction errors of a moved camera, by hand", () => {
  const I = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  const cam = (C: number[]): CameraPose => ({ R: I, t: [-C[0], -C[1], -C[2]] });
  const gt = new Map([["a", cam([0, 0, 0])], ["b", cam([1, 0, 0])], ["c", cam([0, 0, 1])]]);
  const est = new Map([["a", cam([0, 0, 0])], ["b", cam([1, 1, 0])], ["c", cam([0, 0, 1])]]);
  const p = pairPoseErrors(est, gt);
  assert.deepEqual(p.map((e) => [e.image0, e.image1]), [["a", "b"], ["a", "c"], ["b", "c"]]);
  close(p[0].translation, 45, 1e-12); // (−1, −1, 0) vs (−1, 0, 0)
  close(p[1].translation, 0, 1e-12);
  close(p[2].translation, (Math.acos(2 / Math.sqrt(6)) * 180) / Math.PI, 1e-12); // (1, 1, −1) vs (1, 0, −1)
  for (const e of p) close(e.rotation, 0, 1e-12);
  // not folded: the opposite direction is 180°, not 0°
  close(vectorAngle([1, 0, 0], [-1, 0, 0]), 180, 1e-12);
  assert.equal(vectorAngle([0, 0, 0], [1, 0, 0]), Infinity);
});

Deno.test("sfm metric: an unregistered photo fails all its pairs", () => {
  const gt = syntheticTruth();
  const est = new Map(gt);
  est.delete([...gt.keys()][4]);
  est.set("extra.jpg", gt.get([...gt.keys()][0])!);
  const s = scoreReconstruction(est, gt);
  assert.equal(s.registered, 4);
  assert.deepEqual(s.unknown, ["extra.jpg"]);
  assert.equal(s.pairs.filter((p) => p.error === Infinity).length, 4);
  for (const a of s.auc) close(a.value, 0.6, 1e-9);
  assert.equal(s.aligned!.cameras.length, 4);
  // half or more pairs failed → infinite medians
  est.delete([...gt.keys()][3]);
  const s2 = scoreReconstruction(est, gt);
  assert.equal(s2.medianRotation, Infinity);
  // below 3 registered photos there is no alignment
  assert.equal(alignedErrors(new Map([...est].slice(0, 2)), gt), null);
  assert.equal(scoreReconstruction(new Map(), gt).auc[0].value, 0);
});

Deno.test("sfm metric: AUC as SuperGlue's pose_auc (hand-computed)", () => {
  // errors 0.5, 1.5, 4 → recall 1/3, 2/3, 1
  const auc = poseAuc([4, 0.5, 1.5], [1, 3, 5]);
  close(auc[0], 0.25, 1e-12);
  close(auc[1], 1.58333333333333333 / 3, 1e-12);
  close(auc[2], 3.66666666666666667 / 5, 1e-12);
  // numpy (SuperGlue's pose_auc with np.trapezoid) on a mixed case, infinity and ties included
  const numpy = [0.14166666666666666, 0.275, 0.36500000000000005, 0.5199999999999999];
  poseAuc([0.3, Infinity, 7, 2.5, 2.5, 11], [1, 3, 5, 10]).forEach((v, k) =>
    close(v, numpy[k], 1e-15)
  );
  assert.deepEqual(poseAuc([Infinity, Infinity], [1, 10]), [0, 0]);
  assert.deepEqual(poseAuc([], [5]), [0]);
  close(poseAuc([0, 0], [3])[0], 1, 1e-15);
});

Deno.test("sfm metric: Umeyama recovers a known similarity, never a reflection", () => {
  const rnd = seededRandom(3);
  const src = Array.from({ length: 8 }, () => [5 * rnd(), 5 * rnd(), 5 * rnd()]);
  const T = {
    s: 0.8,
    R: axisAngleRotation(123, [1, 2, -0.5]),
    t: [3, -1, 7] as [number, number, number],
  };
  const dst = src.map((x) => applySimilarity(T, x));
  const e = umeyama(src, dst);
  close(e.s, 0.8, 1e-12);
  close(rotationAngle(mul3(transpose3(e.R), T.R)), 0, 1e-6);
  e.t.forEach((v, i) => close(v, T.t[i], 1e-10));
  // a mirrored target: the best proper rotation, det +1
  const mirrored = dst.map((x) => [-x[0], x[1], x[2]]);
  const m = umeyama(src, mirrored);
  const det = m.R[0] * (m.R[4] * m.R[8] - m.R[5] * m.R[7]) -
    m.R[1] * (m.R[3] * m.R[8] - m.R[5] * m.R[6]) +
    m.R[2] * (m.R[3] * m.R[7] - m.R[4] * m.R[6]);
  close(det, 1, 1e-12);
  assert.throws(() => umeyama([[1, 2, 3]], [[1, 2, 3]]), /at least 2/);
  assert.throws(() => umeyama([[1, 2, 3], [1, 2, 3]], [[0, 0, 0], [1, 1, 1]]), /coincide/);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

Deno.test(
  needsShared(
    "sfm metric: fountain's ground truth against a transformed copy with one camera moved 10 cm",
  ),
  async () => {
    const csv = parseCamerasCsv(
      await Deno.readTextFile(`${sharedDir}data/sfm_dev/fountain/cameras.csv`),
    );
    const gt = posesFromCamerasCsv(csv);
    const R0 = rotationFromQuaternion(csv[0].q);
    assert.deepEqual(Array.from(gt.get("0000.jpg")!.R), Array.from(R0));
    const est = transformWorld(gt, 0.1, Q, [0, 5, 0]);
    const perfect = scoreReconstruction(est, gt);
    for (const a of perfect.auc) close(a.value, 1, 1e-9);
    // move camera 0005 by 10 cm (1 cm in the copy's scale) sideways, same rotation
    const { R, t } = est.get("0005.jpg")!;
    const C = cameraCentre({ R, t });
    const C2 = [C[0] + 0.01, C[1], C[2]];
    est.set("0005.jpg", {
      R,
      t: [0, 1, 2].map((r) => -(R[3 * r] * C2[0] + R[3 * r + 1] * C2[1] + R[3 * r + 2] * C2[2])),
    });
    const s = scoreReconstruction(est, gt);
    // no outlier rejection: the 10 cm spread over the fit, the moved camera keeps most of it
    const moved = s.aligned!.cameras.find((c) => c.name === "0005.jpg")!;
    assert.ok(moved.position > 0.08 && moved.position < 0.1, `${moved.position}`);
    assert.equal(s.aligned!.maxPosition, moved.position);
    for (const p of s.pairs) {
      if (p.image0 !== "0005.jpg" && p.image1 !== "0005.jpg") close(p.error, 0, 1e-6);
      else close(p.rotation, 0, 1e-6);
    }
  },
);
